"""operations/reading.py: one reading per host settles files.put/directory/file, apt.packages and
authorized keys, read again once anything changed on that host, and anything it cannot settle runs
as pyinfra's own. operations/pip.py: pinned packages settled by one short Python run.
steps/accounts.py: a person's account judged from the Accounts fact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.facts.server import AuthorizedKeys

from facts.files import PathStates
from facts.python import VenvPackages
from operations import pip, reading
from steps.accounts import user_in_place

DATA = Path(__file__).resolve().parent / "data" / "facts"
TEXT = b"line\n"
DIGEST = hashlib.sha1(TEXT).hexdigest()
FOUND = {
    "/etc/x.conf": {
        "type": "f",
        "mode": 0o644,
        "user": "root",
        "group": "root",
        "sha1": DIGEST,
    },
    "/etc/x": {"type": "d", "mode": 0o755, "user": "root", "group": "slurm", "sha1": None},
    "/etc/link": {"type": "l", "mode": 0o777, "user": "root", "group": "root", "sha1": None},
    "/etc/gone": {"type": "-"},
}


class Host(SimpleNamespace):
    __hash__ = object.__hash__


class Meta:
    def __init__(self, changed):
        self.changed = changed

    def is_complete(self):
        return True

    def did_change(self):
        return self.changed


@pytest.fixture
def node(monkeypatch):
    """A host whose reading is FOUND and whose packages are munge and slurmd 23.11; its reads counted."""
    reads = []

    def get_fact(cls, **kwargs):
        reads.append(cls)
        if cls is PathStates:
            return {path: FOUND[path] for path in kwargs["paths"] if path in FOUND}
        if cls is AuthorizedKeys:
            return ["ssh-ed25519 AAAA deployer"]
        if cls is VenvPackages:
            return {"jupyterlab": "4.4.5", "nvidia-ml-py": None} if kwargs["venv"] == "/opt/pytorch" else None
        return {"munge": {"0.5.15-2"}, "slurmd": {"23.11.4-1"}}

    fake = Host(name="node1", get_fact=get_fact, reads=reads)
    monkeypatch.setattr(reading, "host", fake)
    monkeypatch.setattr(pip, "host", fake)
    monkeypatch.setattr(reading, "_HOSTS", {})  # no reading left by another test (ids are reused)
    monkeypatch.setattr(reading, "state", SimpleNamespace(ops={fake: {}}))
    return fake


def test_what_the_reading_shows_in_place_is_skipped_and_any_difference_runs(node):

    same = reading.path_differs("/etc/x.conf", "f", DIGEST, "root", "root", "644")
    other_text = reading.path_differs("/etc/x.conf", "f", hashlib.sha1(b"new\n").hexdigest())
    other_mode = reading.path_differs("/etc/x.conf", "f", DIGEST, mode="600")
    other_owner = reading.path_differs("/etc/x.conf", "f", DIGEST, user="slurm")
    directory = reading.path_differs("/etc/x", "d", group="slurm", mode="755")
    not_a_file = reading.path_differs("/etc/link", "f", DIGEST)
    absent = reading.path_differs("/etc/gone", "-")
    missing = reading.path_differs("/etc/gone", "f", DIGEST)
    assert not same() and not directory() and not absent()
    assert other_text() and other_mode() and other_owner() and not_a_file() and missing()
    assert node.reads == [PathStates]  # one reading for all of them


def test_after_a_change_on_the_host_only_nothing_to_do_is_read_again(node):
    in_place = reading.path_differs("/etc/x", "d")
    to_write = reading.path_differs("/etc/x.conf", "f", "0" * 40)
    assert not in_place() and to_write() and node.reads == [PathStates]
    node_ops = reading.state.ops[node]
    node_ops["unchanged"] = SimpleNamespace(operation_meta=Meta(False))
    assert not in_place() and node.reads == [PathStates]
    node_ops["installed"] = SimpleNamespace(operation_meta=Meta(True))
    assert to_write() and node.reads == [PathStates]  # work to do: the operation reads for itself
    assert not in_place() and node.reads == [PathStates, PathStates]  # confirmed by a new reading
    assert not in_place() and node.reads == [PathStates, PathStates]
    named_late = reading.path_differs("/etc/late", "f")  # named at run time, after the reading
    assert named_late()


def test_packages_installed_are_skipped_a_missing_one_or_another_version_runs(node):
    assert not reading.packages_missing(["munge", "slurmd"])()
    assert not reading.packages_missing(["slurmd=23.11.4-1"])()
    assert reading.packages_missing(["munge", "slurmctld"])()
    assert reading.packages_missing(["slurmd=24.11.5-1"])()


def test_keys_the_file_lists_are_skipped_and_a_missing_one_runs(node):
    path = "/home/labadmin/.ssh/authorized_keys"
    assert not reading.keys_missing(path, ["ssh-ed25519 AAAA deployer\n"])()
    assert reading.keys_missing(path, ["ssh-ed25519 AAAA deployer", "ssh-ed25519 BBBB labadmin@node0"])()
    assert node.reads == [AuthorizedKeys]


def test_pinned_packages_the_environment_holds_are_skipped_others_run_as_pyinfras_own(node, monkeypatch):
    monkeypatch.setattr(pip, "planned", lambda: False)
    monkeypatch.setattr(pip, "pyinfra_pip", SimpleNamespace(packages=lambda **kwargs: kwargs))
    lab = pip.packages(packages=["jupyterlab==4.4.5"], pip="/opt/pytorch/bin/pip")
    newer = pip.packages(packages=["jupyterlab==4.5.0"], pip="/opt/pytorch/bin/pip")
    absent = pip.packages(packages=["nvidia-ml-py==13.580.82"], pip="/opt/pytorch/bin/pip")
    no_venv = pip.packages(packages=["jupyterlab==4.4.5"], pip="/opt/none/bin/pip")
    assert not lab["_if"]() and newer["_if"]() and absent["_if"]() and no_venv["_if"]()
    assert node.reads == [VenvPackages] * 4  # read as each operation runs, as pyinfra's own would
    unpinned = pip.packages(packages=["jupyterlab"], pip="/opt/pytorch/bin/pip")
    assert unpinned.get("_if") is None


def test_a_person_in_place_from_the_recorded_accounts():
    found = json.loads((DATA / "Accounts" / "rig-user-and-service-accounts.json").read_text())["fact"]
    assert user_in_place(found, "ada", 2001, 2001, "/home/ada", ["researchers"])
    assert not user_in_place(found, "ada", 2001, 2001, "/home/ada", ["researchers", "sudo"])  # sudo added
    assert not user_in_place(found, "ada", 2002, 2001, "/home/ada", ["researchers"])  # another UID
    assert not user_in_place(found, "grace", 2002, 2002, "/home/grace", ["researchers"])  # not there yet
