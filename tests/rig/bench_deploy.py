"""`make bench-deploy`: how long the deploy takes on the rig, and where the time goes.

A fresh rig of three nodes, then the fresh converge (the first deploy, password login) and three
no-change re-runs; then the same on a fresh rig of six nodes (RIG_NODES=6), for what size costs.
For each it prints the wall time, this machine's CPU time, the commands each node ran through
sudo (counted on the node, in its journal: every operation and fact runs that way) and every
step's time (from pyinfra's progress lines). The package installs of the converge are shown apart
(the operations named "Install ..."). Since the rig's nodes share this machine's cores, it also
prints the CPU work each run gave the cores, the shortest time that work allows, and what sudo's
password check costs per command. The six-node rig is taken down at the end.
"""

from __future__ import annotations

import os
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

from demo import Progress
from rig import Rig

RERUNS = 3


class Steps(Progress):
    """Progress that keeps each step's time instead of printing it, and the time of the operations
    that install packages (named "Install ...")."""

    def __init__(self):
        super().__init__()
        self.times: dict[str, float] = {}
        self.phases: dict[str, float] = {}  # each phase's label -> when it began
        self.installing = 0.0
        self.install_since: float | None = None

    def __call__(self, line: str, seconds: float) -> None:
        text = line.strip()
        if text.startswith("--> "):
            if self.install_since is not None:
                self.installing += seconds - self.install_since
            operation = text.removeprefix("--> Starting operation: ").partition(" | ")[2]
            self.install_since = seconds if operation.startswith("Install") else None
        super().__call__(line, seconds)

    def phase(self, phase: str, seconds: float) -> None:
        self.phases[phase] = seconds

    def end(self, seconds: float) -> None:
        if self.step:
            self.times[self.step] = self.times.get(self.step, 0.0) + seconds - self.since
        self.step, self.changed = None, []


def sudo_commands(rig: Rig) -> dict[str, int]:
    """Per node, the commands sudo has run since the node booted (its journal's COMMAND= lines)."""
    count = "journalctl -q -t sudo --no-pager | grep -c 'COMMAND=' || true"
    return {node: int(rig.run(node, count).stdout.strip() or 0) for node in rig.nodes}


def busy_seconds() -> float:
    """CPU seconds this machine's cores have been busy since boot (/proc/stat: all but idle and
    iowait): the rig's nodes, the deploy and everything else share them."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def sudo_check_ms(rig: Rig, node: str, times: int = 20) -> float:
    """Milliseconds a `sudo -k` given the admin's password takes on a node, mostly the password's
    hashing: pyinfra runs every command with a password as `sudo -H -A -k`, so each one checks it."""
    loop = f"a=$(date +%s%N); for i in $(seq {times}); do sudo -S -k -p '' true; done; b=$(date +%s%N)"
    script = f"{loop}; echo $(((b - a) / {times}000))"
    as_admin = f"su -s /bin/sh {rig.admin_user} -c {shlex.quote(script)}"
    run = rig.run(node, as_admin, stdin=f"{rig.password()}\n" * times)
    return int(run.stdout.split()[-1]) / 1000


def measured(rig: Rig, **kwargs) -> dict:
    before, cpu, busy = sudo_commands(rig), resource.getrusage(resource.RUSAGE_CHILDREN), busy_seconds()
    steps = Steps()
    run = rig.deploy(progress=steps, **kwargs)
    if run.returncode:
        sys.exit(run.output[-3000:])
    after, used, busy = (
        sudo_commands(rig),
        resource.getrusage(resource.RUSAGE_CHILDREN),
        busy_seconds() - busy,
    )
    return {
        "seconds": run.seconds,
        "work": busy,
        "cpu": (used.ru_utime + used.ru_stime) - (cpu.ru_utime + cpu.ru_stime),
        "commands": {node: after[node] - before[node] for node in rig.nodes},
        "steps": steps.times,
        "installing": steps.installing,
        "planning": steps.phases[Progress.PHASES["Beginning operation run"]]
        - steps.phases[Progress.PHASES["Preparing operation files"]],
        "changes": sum(len(hosts) for hosts in run.changed().values()),
    }


def report(title: str, run: dict, every_step: bool = False) -> None:
    commands = ", ".join(f"{node} {n}" for node, n in run["commands"].items())
    print(
        f"{title}: {run['seconds']:.1f} s wall ({run['planning']:.1f} s reading facts and planning), "
        f"{run['cpu']:.1f} s CPU here (the {os.cpu_count()} cores "
        f"{100 * run['work'] / (run['seconds'] * os.cpu_count()):.0f}% busy), "
        f"{run['changes']} changes"
    )
    print(
        f"  work on this machine's cores: {run['work']:.0f} CPU-s (the deploy, every node's sudo, sshd, "
        f"commands and services): no run shorter than {run['work'] / os.cpu_count():.1f} s on them"
    )
    print(f"  commands through sudo: {commands}")
    steps = sorted(run["steps"].items(), key=lambda item: -item[1])
    shown = steps if every_step else steps[:6]
    print(
        f"  {'steps' if every_step else 'slowest steps'}: "
        + ", ".join(f"{step} {s:.1f} s" for step, s in shown)
    )


def bench(size: int) -> tuple[dict, list[dict]]:
    """A fresh rig of `size` nodes: its converge and its no-change re-runs, each reported."""
    rig = Rig(size=size)
    print(f"Bringing up a fresh rig ({rig.suite}, {size} nodes) ...", flush=True)
    rig.up()
    fresh = measured(rig, first_login=True)
    report(f"{size} nodes, fresh converge", fresh, every_step=True)
    rest = fresh["seconds"] - fresh["installing"]
    print(f"  installing packages (apt, pip): {fresh['installing']:.1f} s; the deploy's own: {rest:.1f} s")
    reruns = [measured(rig) for _ in range(RERUNS)]
    for i, run in enumerate(reruns, 1):
        report(f"{size} nodes, no-change re-run {i}", run, every_step=i == 1)
    first = next(iter(rig.nodes))
    check = sudo_check_ms(rig, first)
    for title, run in (("fresh converge", fresh), ("no-change re-run 1", reruns[0])):
        commands = sum(run["commands"].values())
        print(
            f"  sudo's password check, {check:.0f} ms per command on {first}: about "
            f"{check * commands / 1000:.0f} CPU-s of the {title}'s {run['work']:.0f} ({commands} commands)"
        )
    return fresh, reruns


def main() -> None:
    start = time.monotonic()
    results = {size: bench(size) for size in (3, 6)}
    Rig(size=6).down()
    print()
    medians = {}
    for size, (fresh, reruns) in results.items():
        medians[size] = statistics.median(run["seconds"] for run in reruns)
        runs = ", ".join(f"{run['seconds']:.1f}" for run in reruns)
        print(
            f"{size} nodes: fresh converge {fresh['seconds']:.1f} s ({fresh['installing']:.1f} s installing "
            f"packages); no-change re-run median {medians[size]:.1f} s ({runs})"
        )
    print(f"six nodes against three: {100 * (medians[6] / medians[3] - 1):+.0f}% on the no-change re-run")
    print(f"(everything, rig starts included: {time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
