"""The one way templates are rendered: for files.put(src=StringIO(render(...))) and the unit tests.

Block tags leave no stray blank lines (trim_blocks, lstrip_blocks); a name the template uses and the
context lacks is an error (StrictUndefined), as in pyinfra's own files.template.
"""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **context) -> str:
    """templates/<name> rendered with the context."""
    return _ENV.get_template(name).render(**context)
