"""Each setting declared once: in the spec, with what it is for; group_data/all.py repeats no
default; docs/settings.md is made from the spec and current."""

from __future__ import annotations

from pydantic import BaseModel
from specs import GROUP_DATA, ROOT

from model.reference import _nested, reference
from model.spec import GLOBAL_SETTINGS, ClusterSpec


def test_docs_settings_md_is_made_from_the_spec():
    assert (ROOT / "docs" / "settings.md").read_text() == reference(), (
        "docs/settings.md is stale: python -m model.reference > docs/settings.md"
    )


def test_every_setting_and_every_key_of_a_dict_setting_says_what_it_is_for():
    models: list[type[BaseModel]] = [ClusterSpec]
    models += [m for f in ClusterSpec.model_fields.values() if (m := _nested(f))]
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if name != "ssh_address" and not (field.json_schema_extra or {}).get("doc")
    ]
    assert missing == []


def test_group_data_repeats_no_default():
    by_name = {group_data: field for field, group_data in GLOBAL_SETTINGS.items()}
    repeated = [
        name
        for name, value in GROUP_DATA.items()
        if name in by_name and ClusterSpec.model_fields[by_name[name]].default == value
    ]
    assert repeated == [], "set only what differs from the default (docs/settings.md lists them)"
