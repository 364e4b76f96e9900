"""Fixtures for the end-to-end tests: the rig brought up by pytest-docker, and deploys to it.

The rig's containers are real systemd nodes with real sshd; the deploy reaches them over SSH
exactly as it reaches real machines. Nothing here connects to the addresses in inventory.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from rig import RIG, Deploy

pytestmark = pytest.mark.e2e
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def docker_compose_command():
    return "docker-compose"  # Debian's compose v1; `docker compose` v2 is not installed here


@pytest.fixture(scope="session")
def docker_compose_file():
    RIG.prepare()  # key pair, node image (cached), and the variables the compose file reads
    return str(RIG.compose_file)


@pytest.fixture(scope="session")
def docker_compose_project_name():
    return RIG.project


@pytest.fixture(scope="session")
def docker_setup():
    # always a fresh rig (the first deploy must meet fresh installs), of three nodes whatever ran before
    return ["down -v --remove-orphans", "up -d"]


@pytest.fixture(scope="session")
def docker_cleanup():
    return [] if os.environ.get("RIG_KEEP") == "1" else ["down -v"]


@pytest.fixture(scope="session")
def rig(docker_services):
    """The three fresh nodes, sshd up and the admin password set, as an installer leaves them."""
    RIG.known_hosts.unlink(missing_ok=True)
    RIG.after_start()
    return RIG


@pytest.fixture(scope="session")
def outputs():
    """Everything the deploys printed in this session, for the secret-leak checks."""
    return []


@pytest.fixture(scope="session")
def first_deploy(rig, outputs) -> Deploy:
    """The first deploy, while node1 holds the dpkg locks as a fresh install's unattended-upgrades
    does (tests/e2e/data/hold_dpkg_lock.py): its apt steps must wait, not fail."""
    holder = subprocess.Popen(
        ["docker", "exec", "-i", RIG.container("node1"), "python3", "-"],
        stdin=open(DATA / "hold_dpkg_lock.py"),  # noqa: SIM115
        stdout=subprocess.PIPE,
        text=True,
    )
    result = RIG.deploy(first_login=True)
    outputs.append(result.output)
    if result.returncode:
        holder.kill()
    assert result.returncode == 0, result.output[-4000:]
    held = json.loads(holder.communicate(timeout=300)[0])
    result.lock_holder = held
    return result


@pytest.fixture(scope="session")
def second_deploy(first_deploy, outputs) -> Deploy:
    result = RIG.deploy()  # key login only: no password given
    outputs.append(result.output)
    assert result.returncode == 0, result.output[-4000:]
    return result


def pytest_collection_modifyitems(items):
    """Tests of the deploy's own logic (pyinfra's connections, accounts, audit) run on one rig: the
    second rig is there for what differs between releases, and CI time is shared by both."""
    skip = pytest.mark.skip(reason="release-independent: run on the Debian 12 rig")
    for item in items:
        if RIG.suite != "bookworm" and item.get_closest_marker("release_independent"):
            item.add_marker(skip)
