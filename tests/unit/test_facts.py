"""Every fact's parser, from outputs recorded on the rig and on real machines.

tests/unit/data/facts/<Fact>/<case>.json holds the fact's arguments, its command, the output and
the value the fact must make of it (a case without output is the fact's value for no output).
data/facts/record.py records new cases on a running rig.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest
from pyinfra.api import FactBase

import facts
from facts.slurm import in_service

DATA = Path(__file__).resolve().parent / "data" / "facts"
MODULES = [importlib.import_module(f"facts.{p.stem}") for p in Path(facts.__file__).parent.glob("[a-z]*.py")]
FACTS = {
    name: cls
    for module in MODULES
    for name, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, FactBase) and cls.__module__ == module.__name__
}
CASES = sorted(DATA.glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_the_fact_makes_the_recorded_value_of_the_recorded_output(path):
    case = json.loads(path.read_text())
    fact = FACTS[path.parent.name]()
    assert fact.command(**case["args"]) == case["command"]
    value = fact.process(case["output"]) if case["output"] else fact.default()
    assert json.loads(json.dumps(value)) == case["fact"]


def test_every_fact_has_a_recorded_case():
    assert sorted(FACTS) == sorted({p.parent.name for p in CASES})


def test_a_node_is_in_service_only_in_a_state_that_takes_work_and_while_it_answers():
    taking = [
        s
        for s in ("idle", "mixed", "allocated", "drained", "draining", "down*", "idle*")
        if in_service({"state": s})
    ]
    assert taking == ["idle", "mixed", "allocated"]
    assert not in_service(None)  # not in sinfo's answer at all
