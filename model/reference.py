"""docs/settings.md, made from the spec's parts: every setting once, with its group_data name,
default and what it is for. `python -m model.reference > docs/settings.md`; a unit test checks
the file is current."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from model.spec import PARTS, ClusterSpec

TABLE = "| --- | --- | --- |"
HEADER = """# Settings

Every setting of the project, in group_data/all.py's names, grouped as the spec (model/spec.py)
groups them. Set only what differs from the default, in group_data/all.py; a dict setting there
replaces only the keys it names. Made by `python -m model.reference > docs/settings.md`.
"""


def _default(field) -> str:
    if field.default is PydanticUndefined:
        return "(required)"
    value = field.default
    if isinstance(value, BaseModel):
        return "(below)"
    return f"`{_python(value)!r}`"


def _python(value):
    """A default as group_data/all.py would write it."""
    if isinstance(value, tuple | list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def _doc(field) -> str:
    return (field.json_schema_extra or {}).get("doc", "")


def _nested(field) -> type[BaseModel] | None:
    kind = field.annotation
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind
    args = getattr(kind, "__args__", ())
    return next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)


def reference() -> str:
    lines = [HEADER]
    for part in PARTS:
        title, _, about = " ".join(part.__doc__.split()).partition(": ")
        lines += [f"## {title}", "", about[0].upper() + about[1:], ""]
        lines += ["| setting | default | what it is for |", TABLE]
        nested = []
        for name in part.model_fields:
            field = ClusterSpec.model_fields[name]
            key = (field.json_schema_extra or {}).get("group_data", name)
            lines.append(f"| `{key}` | {_default(field)} | {_doc(field)} |")
            model = _nested(field)
            if model:
                nested.append((key, model))
        for key, model in nested:
            lines += ["", f"`{key}`, each key:", "", "| key | default | what it is for |", TABLE]
            lines += [f"| `{n}` | {_default(f)} | {_doc(f)} |" for n, f in model.model_fields.items()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference(), end="")
