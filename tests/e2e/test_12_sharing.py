"""Sharing the GPUs between people (steps/sharing.py), as Slurm reports it: who may run jobs, the
per-person cap, scavenger jobs requeued for normal work, the interactive QoS and fair share.

The rig has two research users (ada, grace) and a cap of 2 GPUs per person; to keep the tests short
it counts fair-share use every minute instead of every five and a requeued job waits 31 s instead
of 121 s before it starts again (tests/rig/group_data/all.py). The GPUs are test_02's stand-ins.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from rig import RIG
from test_02_slurm import _quote
from test_07_faults import job, wait_for
from test_10_rest_web import ARTIFACTS, chromium

USERS = ("ada", "grace")
NODES = ("node0", "node1", "node2")


def as_user(rig, user: str, command: str, check: bool = True):
    return rig.run("node0", f"su - {user} -c {_quote(command)}", check=check)


def submit(rig, user: str, args: str) -> str:
    return as_user(rig, user, f"sbatch --parsable -o /dev/null {args}").stdout.strip()


def states(rig, ids) -> list[str]:
    return [job(rig, i).get("JobState") for i in ids]


@pytest.fixture(autouse=True)
def empty_queue(second_deploy, rig):
    """Each test starts with every GPU free, and leaves none of its jobs behind."""
    wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 120, "idle", rig)
    yield
    for user in (*USERS, rig.admin_user):
        rig.run("node0", f"scancel --user={user}")
    wait_for(lambda: not rig.run("node0", "squeue -h").stdout.strip(), 120, "an empty queue", rig)


def test_every_person_and_the_admin_have_an_association(rig):
    out = rig.run("node0", "sacctmgr -n -P show assoc format=account,user,qos,defaultqos").stdout.split()
    research = "interactive,normal,scavenger"
    assert f"research|ada|{research}|normal" in out
    assert f"research|grace|{research}|normal" in out
    assert f"admin|{rig.admin_user}|admin,{research}|admin" in out


def test_someone_not_in_users_cannot_run_jobs(rig):
    rig.run("node0", "id mallory || useradd -m -u 2099 mallory")
    try:
        batch = as_user(rig, "mallory", "sbatch --wrap true", check=False)
        step = as_user(rig, "mallory", "srun -t 1 true", check=False)
    finally:
        rig.run("node0", "userdel -r mallory")
    for refused in (batch, step):
        assert refused.returncode != 0
        assert "Invalid account or account/partition combination specified" in refused.stderr


def test_a_persons_third_gpu_job_waits_for_the_cap_while_a_colleagues_runs(rig):
    ids = [submit(rig, "ada", "--gres=gpu:1 --wrap 'sleep 300'") for _ in range(3)]
    wait_for(
        lambda: (
            sorted(states(rig, ids)) == ["PENDING", "RUNNING", "RUNNING"]
            and job(rig, ids[2]).get("Reason") == "QOSMaxGRESPerUser"
        ),
        60,
        "two of ada's jobs to run and the third to wait for her cap",
        rig,
    )
    colleague = submit(rig, "grace", "--gres=gpu:1 --wrap 'sleep 300'")
    wait_for(lambda: job(rig, colleague).get("JobState") == "RUNNING", 60, "grace's job to run", rig)
    # A scheduling pass may show a pending job's reason as None for a moment before it sets it again.
    third = wait_for(
        lambda: job(rig, ids[2]).get("Reason") != "None" and job(rig, ids[2]), 30, "a reason", rig
    )
    assert third["JobState"] == "PENDING"
    assert third["Reason"] == "QOSMaxGRESPerUser"


def test_scavenger_jobs_yield_to_normal_work_and_complete_later(rig):
    scavengers = [submit(rig, "grace", "--qos=scavenger --gres=gpu:1 --wrap 'sleep 20'") for _ in range(3)]
    wait_for(lambda: states(rig, scavengers) == ["RUNNING"] * 3, 60, "three scavenger jobs on the GPUs", rig)
    submitted = time.monotonic()
    normal = submit(rig, "ada", "--gres=gpu:1 --wrap 'sleep 10'")
    wait_for(lambda: job(rig, normal).get("JobState") == "RUNNING", 60, "the normal job to start", rig)
    assert time.monotonic() - submitted < 60
    preempted = [i for i in scavengers if int(job(rig, i).get("Restarts", 0)) >= 1]
    assert len(preempted) == 1, [job(rig, i) for i in scavengers]
    assert job(rig, preempted[0])["JobState"] == "PENDING"  # requeued, not killed

    ids = [*scavengers, normal]
    wait_for(lambda: states(rig, ids) == ["COMPLETED"] * 4, 240, "every job to complete", rig)
    accounted = rig.run("node0", f"sacct -n -X -P -o JobID,State -j {','.join(ids)}").stdout.split()
    assert sorted(accounted) == sorted(f"{i}|COMPLETED" for i in ids)
    runs = rig.run("node0", f"sacct -n -X -P -D -o State -j {preempted[0]}").stdout.split()
    assert runs[-1] == "COMPLETED" and runs[0] in ("PREEMPTED", "REQUEUED"), runs


def test_interactive_work_is_short_and_first_in_line(rig):
    refused = as_user(rig, "ada", "sbatch --qos=interactive --gres=gpu:1 -t 5:00:00 --wrap true", check=False)
    assert refused.returncode != 0
    assert "Job violates accounting/QOS policy" in refused.stderr
    shell = as_user(
        rig, "ada", "srun --qos=interactive --gres=gpu:1 -t 10 sh -c 'echo $CUDA_VISIBLE_DEVICES'"
    )
    assert shell.stdout.strip() == "0"
    waiting = [submit(rig, rig.admin_user, "--gres=gpu:1 --wrap 'sleep 300'") for _ in range(3)]
    wait_for(lambda: states(rig, waiting) == ["RUNNING"] * 3, 60, "the GPUs busy", rig)
    normal = submit(rig, "grace", "--gres=gpu:1 --wrap true")
    interactive = submit(rig, "ada", "--qos=interactive --gres=gpu:1 -t 10 --wrap true")
    priority = {i: int(job(rig, i)["Priority"]) for i in (normal, interactive)}
    assert priority[interactive] > priority[normal]


def test_the_next_free_gpu_goes_to_the_person_who_used_least(rig):
    """ada's jobs above used GPUs in QoS normal; grace's mostly as a scavenger, which is free."""

    def usage():
        out = rig.run("node0", "sshare -n -P -a -A research -o User,RawUsage").stdout.split()
        return {u: int(n) for u, n in (line.split("|") for line in out) if u in USERS}

    wait_for(lambda: usage().get("ada", 0) > usage().get("grace", 0), 150, "ada's use to be counted", rig)
    busy = [submit(rig, rig.admin_user, "--gres=gpu:1 --wrap 'sleep 300'") for _ in range(3)]
    wait_for(lambda: states(rig, busy) == ["RUNNING"] * 3, 60, "the GPUs busy", rig)
    heavy = submit(rig, "ada", "--array=0-2 --gres=gpu:1 --wrap 'sleep 5'")  # ada queues first
    light = submit(rig, "grace", "--array=0-2 --gres=gpu:1 --wrap 'sleep 5'")

    def fairshare():  # each pending job's fair-share priority, once the scheduler has seen both
        rows = [line.split() for line in rig.run("node0", "sprio -h -o '%u %F'").stdout.split("\n")]
        found = {row[0]: int(row[1]) for row in rows if len(row) == 2}
        return found if set(found) == set(USERS) else None

    found = wait_for(fairshare, 30, "sprio to show both people's jobs", rig)
    assert found["grace"] > found["ada"], found

    rig.run("node0", f"scancel {busy[0]}")
    wait_for(
        lambda: rig.run("node0", f"squeue -h -t RUNNING -j {heavy},{light} -o %u").stdout.split(),
        60,
        "the next job to start",
        rig,
    )
    started = rig.run("node0", f"squeue -h -t RUNNING -j {heavy},{light} -o %u").stdout.split()
    assert started == ["grace"], rig.run("node0", "sprio -l; squeue").stdout


@pytest.mark.skipif(RIG.torch is None, reason=f"no PyTorch venv (JupyterLab's home) on the {RIG.suite} rig")
def test_jupyterlab_in_a_job_answers_through_the_printed_tunnel_and_ends_with_it(rig):
    job_id = as_user(rig, "ada", "cd && sbatch --parsable -w node1 /opt/gpucluster/jobs/jupyter.sbatch")
    job_id = job_id.stdout.strip()
    output = f"/home/ada/jupyter-{job_id}.out"  # written on node1: the rig has no shared directory

    def printed():
        text = rig.run("node1", f"cat {output}", check=False).stdout
        tunnel = next((line.split() for line in text.split("\n") if line.strip().startswith("ssh ")), None)
        url = next((line.split()[-1] for line in text.split("\n") if "?token=" in line), None)
        return (tunnel, url) if tunnel and url and "is running at" in text else None

    tunnel, url = wait_for(printed, 120, "JupyterLab to start", rig)
    assert rig.run("node1", f"stat -c %a {output}").stdout.strip() == "600"  # it holds the token
    assert tunnel[:3] == ["ssh", "-N", "-L"] and tunnel[-1] == "ada@node0"
    # the laptop: this machine, with ada's key; it knows node0 only by its address
    ssh = [*tunnel[:1], "-i", str(RIG.state_dir / "ada_ed25519"), "-o", f"HostName={RIG.nodes['node0']}"]
    ssh += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    with subprocess.Popen([*ssh, *tunnel[1:]], stderr=subprocess.PIPE) as forward:
        try:
            status = url.replace("/lab?", "/api/status?")
            answer = wait_for(lambda: _get(status), 30, "an answer through the tunnel", rig)
            assert json.loads(answer)["started"]
            assert _get(status.split("?")[0]) is None  # no token, no answer
        finally:
            forward.terminate()

    rig.run("node0", f"scancel {job_id}")
    wait_for(lambda: job(rig, job_id).get("JobState") == "CANCELLED", 60, "the job to end", rig)
    wait_for(
        lambda: not rig.run("node1", "pgrep -u ada", check=False).stdout.strip(), 60, "JupyterLab gone", rig
    )


def _get(url: str) -> str | None:
    """The body of a 200 answer, else None."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return None


def test_the_web_view_shows_each_persons_gpus_gpu_hours_and_fair_share(rig):
    """After the jobs above: the web view's figures (from slurmrestd and sshare) against sacct's."""
    jobs = rig.run("node0", "sacct -n -X -P -a -S now-7days -u ada,grace -o User,AllocTRES,ElapsedRaw")
    hours = dict.fromkeys(USERS, 0.0)
    for user, tres, elapsed in (line.split("|") for line in jobs.stdout.split()):
        gpus = dict(t.split("=", 1) for t in tres.split(",") if "=" in t).get("gres/gpu", "0")
        hours[user] += int(gpus) * int(elapsed) / 3600
    assert hours["ada"] > 0 and hours["grace"] > 0, jobs.stdout
    shares = rig.run("node0", "sshare -n -P -a -A research -o User,FairShare").stdout.split()
    fair_share = {u: float(f) for u, f in (line.split("|") for line in shares) if u in USERS}

    url = f"http://{rig.nodes['node0']}:8080/"
    with urllib.request.urlopen(f"{url}api/state", timeout=30) as answer:
        people = {p["name"]: p for p in json.load(answer)["model"]["people"]}
    for user in USERS:
        assert people[user]["account"] == "research"
        assert people[user]["gpus_now"] == 0
        assert abs(people[user]["gpu_hours"] - hours[user]) < 1e-3, (people[user], hours[user])
        assert people[user]["fair_share"] == pytest.approx(fair_share[user], abs=1e-6)

    page = chromium(url, ARTIFACTS / f"webview-people-{rig.suite}.png")
    assert all(f'id="person-{user}"' in page for user in USERS), page[:3000]


@pytest.mark.skipif(RIG.torch is None, reason=f"no PyTorch venv on the {RIG.suite} rig")
def test_a_persons_own_environment_adds_a_package_on_every_node_and_keeps_the_clusters_torch(rig, tmp_path):
    """The rig has no /shared, so the environment is made at the same path in ada's home on each
    node, as /shared/ada/envs/... would be one folder seen by all. The package is a wheel from the
    package index, copied in (the nodes reach no index over HTTPS)."""
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp_path), "tabulate"]
    subprocess.run(download, check=True)
    (wheel,) = tmp_path.glob("tabulate-*.whl")
    env = "/home/ada/envs/exp"
    for node in NODES:
        subprocess.run(["docker", "cp", str(wheel), f"{rig.container(node)}:/tmp/{wheel.name}"], check=True)
        rig.run(node, f"su - ada -c '/opt/gpucluster/jobs/new-venv {env}'")
        rig.run(node, f"su - ada -c '{env}/bin/pip install -q --no-index /tmp/{wheel.name}'")
    probe = "import socket, tabulate, torch; print(socket.gethostname(), tabulate.__file__, torch.__file__)"
    out = as_user(rig, "ada", f"srun -N3 --ntasks-per-node=1 -t 2 {env}/bin/python -c {_quote(probe)}").stdout
    rows = sorted(line.split() for line in out.split("\n") if line)
    assert [row[0] for row in rows] == list(NODES)
    for _, package, torch in rows:
        assert package.startswith(f"{env}/lib/") and torch.startswith("/opt/pytorch/lib/"), rows
    for node in NODES:  # the cluster's environment is untouched
        assert rig.run(node, "/opt/pytorch/bin/python -c 'import tabulate'", check=False).returncode != 0
        rig.run(node, f"rm -rf /home/ada/envs /tmp/{wheel.name}")
