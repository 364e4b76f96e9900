"""Accounting, slurmrestd with JWT, and the web view, on the rig.

The REST requests and the browser run on the build machine (10.77.0.1, inside the cluster
network), as an operator's would. The browser is Debian's chromium, headless: it loads the page,
runs it, and its DOM and a screenshot are kept (tests/e2e/artifacts/, ignored by git).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rig import ROOT
from test_07_faults import job, submit, wait_for

NODES = ["node0", "node1", "node2"]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"


def token(rig, lifespan: int = 300) -> str:
    return rig.run("node0", f"scontrol token lifespan={lifespan}").stdout.strip().removeprefix("SLURM_JWT=")


def get(rig, path: str, jwt: str | None) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a GET to slurmrestd on node0, as root with this token."""
    headers = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": jwt} if jwt else {}
    request = urllib.request.Request(f"http://{rig.nodes['node0']}:6820{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as refused:
        body = refused.read()
        try:
            return refused.code, json.loads(body or b"{}")
        except json.JSONDecodeError:
            return refused.code, {"text": body.decode(errors="replace")}


@pytest.fixture(scope="module")
def api(second_deploy, rig) -> str:
    """The newest /slurm/vX.Y.Z of the running server, read from its OpenAPI description."""
    status, openapi = get(rig, "/openapi/v3", token(rig))
    assert status == 200, openapi
    found = [re.match(r"^/slurm/(v\d+\.\d+\.\d+)/nodes/?$", path) for path in openapi["paths"]]
    versions = sorted({m.group(1) for m in found if m}, key=lambda v: tuple(map(int, v[1:].split("."))))
    assert versions, list(openapi["paths"])[:20]
    return f"/slurm/{versions[-1]}"


def chromium(url: str, screenshot: Path | None = None, height: int = 900) -> str:
    """The page's DOM after headless chromium loaded and ran it (and a screenshot, if asked)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is needed (.ci/run installs it)"
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size=1280,{height}"]
    if screenshot:
        screenshot.parent.mkdir(exist_ok=True)
        subprocess.run([*args, f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    return subprocess.run(
        [*args, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout


def page_with(url: str, text: str) -> str | None:
    page = chromium(url)
    return page if text in page else None


def test_slurmrestd_refuses_a_request_without_a_token(rig, api):
    status, body = get(rig, f"{api}/nodes", None)
    assert status == 401, body


def test_a_valid_token_lists_the_three_nodes_and_their_gpus(rig, api):
    status, body = get(rig, f"{api}/nodes", token(rig))
    assert status == 200, body
    nodes = {node["name"]: node for node in body["nodes"]}
    assert sorted(nodes) == NODES
    assert all(nodes[n]["gres"].startswith("gpu:rtx5090:1") for n in NODES), {
        n: nodes[n]["gres"] for n in NODES
    }


def test_a_forged_or_expired_token_is_refused(rig, api):
    header, claims, _ = token(rig).split(".")
    forged = f"{header}.{claims}.{base64.urlsafe_b64encode(b'x' * 32).decode().rstrip('=')}"
    status, body = get(rig, f"{api}/nodes", forged)
    assert status != 200 and not body.get("nodes"), (status, body)

    expired = token(rig, lifespan=1)
    time.sleep(3)
    status, body = get(rig, f"{api}/nodes", expired)
    assert status != 200 and not body.get("nodes"), (status, body)


def test_the_jwt_key_and_the_database_password_stay_on_the_controller(rig, outputs):
    key = "/var/lib/slurm/slurmctld/jwt_hs256.key"
    secret = "/etc/slurm/slurmdbd-storage.conf"
    assert rig.run("node0", f"stat -c '%U:%G %a' {key} {secret}").stdout.split("\n")[:2] == [
        "slurm:slurm 600",
        "slurm:slurm 600",
    ]
    for node in NODES[1:]:
        assert rig.run(node, f"test -e {key} || test -e {secret}", check=False).returncode != 0
    jwt_key = rig.run("node0", f"base64 -w0 {key}").stdout.strip()
    password = rig.run("node0", f"sed -n 's/^StoragePass=//p' {secret}").stdout.strip()
    assert len(password) >= 32
    secrets = [jwt_key, jwt_key[:24], base64.b64decode(jwt_key).hex()[:32], password]
    for output in outputs:
        assert not [s for s in secrets if s in output]
    for found in secrets:
        assert subprocess.run(["git", "grep", "-F", "-q", found], cwd=ROOT).returncode == 1


def test_the_web_view_shows_the_nodes_and_a_job_while_it_runs_then_in_history(rig):
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"http://{rig.nodes['node0']}:8080/"
    job_id = submit(rig, '--gres=gpu:1 -J webview-test -o /dev/null --wrap "sleep 30"')
    wait_for(lambda: job(rig, job_id).get("JobState") == "RUNNING", 60, "the job to run", rig)

    page = wait_for(lambda: page_with(url, f'id="running-{job_id}"'), 60, "the running job on the page")
    chromium(url, ARTIFACTS / f"webview-running-{rig.suite}.png")
    assert all(f'id="node-{n}"' in page for n in NODES), page[:2000]
    assert "eyJ" not in page  # no token (a JWT starts with the base64 of '{"') reaches the browser

    wait_for(lambda: job(rig, job_id).get("JobState") == "COMPLETED", 90, "the job to end", rig)
    page = wait_for(lambda: page_with(url, f'id="finished-{job_id}"'), 90, "the job in the history")
    chromium(url, ARTIFACTS / f"webview-history-{rig.suite}.png")
    assert f'id="running-{job_id}"' not in page
    assert (ARTIFACTS / f"webview-history-{rig.suite}.png").stat().st_size > 0


def test_sacct_keeps_finished_jobs_with_their_gpus(rig):
    job_id = submit(rig, '--gres=gpu:1 -o /dev/null --wrap "true"')
    wait_for(lambda: job(rig, job_id).get("JobState") == "COMPLETED", 60, "the job to end", rig)
    row = wait_for(
        lambda: rig.run("node0", f"sacct -X -n -P -o jobid,state,alloctres -j {job_id}").stdout.strip(),
        60,
        "sacct to know the job",
    )
    jobid, state, tres = row.split("|")
    assert (jobid, state) == (job_id, "COMPLETED")
    assert "gres/gpu=1" in tres.split(","), tres
    assert rig.run("node0", "sacctmgr -n -P list cluster format=cluster").stdout.split() == ["gpucluster"]
