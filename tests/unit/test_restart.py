"""operations/plan.py restart() and daemon_reload(): a service restarts for a change in this run, or
for configuration written after it started (a run stopped between the two); one reading per host."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from facts.system import ServiceStarts
from operations import plan

STARTS = {
    "units": {
        "slurmctld.service": {"started": 1000.0, "reload": False},
        "slurmd.service": {"started": 900.0, "reload": True},
        "munge.service": {"started": None, "reload": False},
    },
    "written": {
        "/etc/slurm/slurm.conf": 950.0,
        "/etc/slurm/gres.conf": 999.5,
        "/etc/munge/munge.key": 1200.0,
    },
}


class Op:
    def __init__(self, changed=False):
        self.changed = changed

    def did_change(self):
        return self.changed


@pytest.fixture
def node(monkeypatch):
    """A host whose services started as in STARTS; the operations planned and the facts read kept."""
    reads, planned = [], []

    def get_fact(cls, **kwargs):
        reads.append((cls, kwargs))
        return STARTS

    monkeypatch.setattr(plan, "host", SimpleNamespace(name="node0", get_fact=get_fact))
    monkeypatch.setattr(plan, "_SERVICES", {})
    monkeypatch.setattr(
        plan,
        "systemd",
        SimpleNamespace(
            service=lambda **kwargs: planned.append(kwargs) or kwargs,
            daemon_reload=lambda **kwargs: planned.append(kwargs) or kwargs,
        ),
    )
    return SimpleNamespace(reads=reads, planned=planned)


def test_a_change_in_this_run_restarts_without_reading(node):
    op = plan.restart("Restart slurmctld", "slurmctld", [Op(changed=True)], ["/etc/slurm/slurm.conf"])
    assert op["restarted"] and op["_if"]()
    assert node.reads == []


def test_configuration_written_after_the_service_started_restarts_it_and_older_does_not(node):
    current = plan.restart(
        "Restart slurmctld", "slurmctld", [Op()], ["/etc/slurm/slurm.conf", "/etc/slurm/gres.conf"]
    )
    stale = plan.restart("Restart munged", "munge.service", [Op()], ["/etc/munge/munge.key"])
    older = plan.restart("Restart slurmd", "slurmd", [Op()], ["/etc/slurm/slurm.conf"])
    assert not current["_if"]()  # both written before it started (999.5 < 1000)
    assert not stale["_if"]()  # not running: keep_running starts it on the new key
    assert older["_if"]()  # slurm.conf (950) is newer than slurmd (900)
    assert node.reads == [
        (
            ServiceStarts,
            {
                "units": ("munge.service", "slurmctld.service", "slurmd.service"),
                "paths": ("/etc/munge/munge.key", "/etc/slurm/gres.conf", "/etc/slurm/slurm.conf"),
            },
        )
    ]  # one reading for every service on the host


def test_a_unit_file_systemd_has_not_reread_is_reloaded(node):
    slurmd = plan.daemon_reload("Read slurmd's drop-in", "slurmd", Op())
    slurmctld = plan.daemon_reload("Read slurmctld's drop-in", "slurmctld", Op())
    written = plan.daemon_reload("Read slurmctld's drop-in", "slurmctld", Op(changed=True))
    assert slurmd["_if"]() and not slurmctld["_if"]() and written["_if"]()
    assert len(node.reads) == 1


def test_a_package_installed_in_this_run_is_not_restarted_for_the_files_its_first_start_read(node):
    fresh = plan.restart("Restart slurmctld", "slurmctld", [Op(changed=True)], [], fresh=Op(changed=True))
    running = plan.restart("Restart slurmctld", "slurmctld", [Op(changed=True)], [], fresh=Op())
    assert not fresh["_if"]() and running["_if"]()


def test_any_of_several_units_not_reread_reloads(node):
    both = plan.daemon_reload("Read the units", ["slurmctld", "slurmd.service"], [Op(), Op()])
    assert both["_if"]() and len(node.reads) == 1


def test_a_restart_that_another_restart_in_this_run_already_did_is_left_out(node):
    key = ["/etc/munge/munge.key"]  # written (1200) after slurmd started (900)
    after_config = plan.restart("Restart slurmd", "slurmd", [Op(changed=True)], key, unless=Op(changed=True))
    alone = plan.restart("Restart slurmd", "slurmd", [Op()], key, unless=Op())
    assert not after_config["_if"]() and alone["_if"]()
