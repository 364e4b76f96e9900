"""How a setting is declared, once: its group_data name, type, default and constraints, what it is
for and the fix for a wrong value. The spec's parts are made of these; docs/settings.md is made
from them (model/reference.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_core import PydanticUndefined


def setting(
    default: Any = PydanticUndefined,
    *,
    doc: str,
    fix: str | None = None,
    group_data: str | None = None,
    **constraints,
):
    """A field of the spec: `doc` says what it is for, `fix` is appended to every error about it (a
    key of a group_data dict is reported under the dict, with the dict's fix), `group_data` is its
    name there where that differs from the field's."""
    extra = {"doc": doc, **({"group_data": group_data} if group_data else {})}
    return Field(default, description=fix, json_schema_extra=extra, **constraints)
