"""Where templates live and how they are rendered, shared by the ops and the unit tests."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Passed to files.template(jinja_env_kwargs=...) so block tags leave no stray blank lines.
JINJA = {"trim_blocks": True, "lstrip_blocks": True}


def template(name: str) -> str:
    """Path of a template, for files.template(src=...)."""
    return str(TEMPLATES / name)


def render(name: str, **context) -> str:
    """Render a template exactly as files.template does (pyinfra's Environment plus JINJA)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True, **JINJA
    )
    return env.get_template(name).render(**context)
