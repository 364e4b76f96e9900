"""Fixtures for the end-to-end tests: the rig brought up by pytest-docker, and deploys to it.

The rig's containers are real systemd nodes with real sshd; the deploy reaches them over SSH
exactly as it reaches real machines. Nothing here connects to the addresses in inventory.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig import RIG

ROOT = Path(__file__).resolve().parents[2]
RIG_INVENTORY = "tests/rig/inventory.py"

pytestmark = pytest.mark.e2e


@dataclass
class Deploy:
    """One pyinfra run: exit code, its JSON results and everything it printed."""

    returncode: int
    results: dict | None
    output: str
    seconds: float

    def changed(self) -> dict[str, list[str]]:
        """Operation name -> hosts where it changed something."""
        ops = self.results["results"]["operations"]
        return {op["name"]: op["success"] for op in ops if op["success"]}


def run_deploy(*args: str, inventory: str = RIG_INVENTORY, first_login: bool = False) -> Deploy:
    env = {**os.environ, "RIG_FIRST_LOGIN": "1" if first_login else "0"}
    cmd = [sys.executable, "-m", "pyinfra", "-y", "--json", inventory, "deploy.py", *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    try:
        results = json.loads(proc.stdout)
    except json.JSONDecodeError:
        results = None
    return Deploy(proc.returncode, results, proc.stdout + proc.stderr, seconds)


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
    return ["down -v", "up -d"]  # always a fresh rig: the first deploy must meet fresh installs


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
    result = run_deploy(first_login=True)
    outputs.append(result.output)
    assert result.returncode == 0, result.output[-4000:]
    return result


@pytest.fixture(scope="session")
def second_deploy(first_deploy, outputs) -> Deploy:
    result = run_deploy()  # key login only: no password given
    outputs.append(result.output)
    assert result.returncode == 0, result.output[-4000:]
    return result
