"""deploy.py's order: each step after the steps it needs (operations.plan.Steps)."""

from __future__ import annotations

import types

import pytest
from pyinfra.api.exceptions import PyinfraError

from operations.plan import Steps


def _step(name, calls):
    return types.SimpleNamespace(
        __name__=f"steps.{name}", configure=lambda **kw: calls.append((name, kw)) or name
    )


def test_a_step_runs_after_what_it_needs_and_a_disabled_one_still_counts_as_reached():
    calls = []
    munge, nvidia, slurm = (_step(n, calls) for n in ("munge", "nvidia", "slurm"))
    steps = Steps()
    key = steps.run(munge)
    assert steps.run(nvidia, when=False) is None
    assert steps.run(slurm, munge, nvidia, munge_key=key) == "slurm"
    assert calls == [("munge", {}), ("slurm", {"munge_key": "munge"})]


def test_a_step_called_before_one_it_needs_stops_the_run_and_names_both():
    calls = []
    munge, slurm = _step("munge", calls), _step("slurm", calls)
    with pytest.raises(PyinfraError, match="the slurm step needs munge before it; fix: call it after"):
        Steps().run(slurm, munge)
    assert calls == []
