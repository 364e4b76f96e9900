"""Accounts: a daemon's user and group already in place are left alone (no pyinfra operation)."""

import json
from pathlib import Path

from operations.accounts import in_place

DATA = Path(__file__).resolve().parent / "data" / "facts"


def test_the_recorded_service_accounts_are_in_place_and_a_changed_one_is_not():
    found = json.loads((DATA / "Accounts" / "rig-user-and-service-accounts.json").read_text())["fact"]
    assert in_place(found, "munge", 1001) and in_place(found, "slurm", 1002)
    assert not in_place(found, "slurm", 1003)  # another ID
    assert not in_place(found, "ada", 2001)  # a person's account: a home and a shell
    assert not in_place(found, "slurmrestd", None)  # not on node1
    found["users"]["munge"]["shell"] = "/bin/bash"
    assert not in_place(found, "munge", 1001)
