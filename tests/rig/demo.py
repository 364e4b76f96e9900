"""`make demo`: bring the rig up, deploy twice, and print what was verified and how long it took.

The rig is left running for `pyinfra tests/rig/inventory.py ...`; `make rig-down` removes it.
"""

from __future__ import annotations

import sys
import time

import paramiko
from rig import RIG


def check(label: str, ok: bool, detail: str = "") -> bool:
    print(f"  [{'ok' if ok else 'FAILED'}] {label}" + (f": {detail}" if detail else ""))
    return ok


def password_refused(ip: str) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            ip, username=RIG.admin_user, password=RIG.password(), look_for_keys=False, allow_agent=False
        )
    except paramiko.AuthenticationException:
        return True
    finally:
        client.close()
    return False


def verify() -> bool:
    results = []
    for node, ip in RIG.nodes.items():
        name = RIG.run(node, "hostname").stdout.strip()
        own = RIG.run(node, "hostname --ip-address").stdout.strip()
        results.append(
            check(f"{node}: host name, own name resolves to its wired IP", name == node and own == ip)
        )
        resolved = {o: RIG.run(node, f"getent -s files ahostsv4 {o}").stdout.split()[:1] for o in RIG.nodes}
        results.append(
            check(
                f"{node}: /etc/hosts resolves every node", resolved == {o: [i] for o, i in RIG.nodes.items()}
            )
        )
        sshd = RIG.run(node, "sshd -T | grep -E '^(passwordauthentication|permitrootlogin) '").stdout.split()
        results.append(check(f"{node}: sshd hardened", sshd.count("no") == 2, " ".join(sshd)))
        results.append(check(f"{node}: password login refused", password_refused(ip)))
        results.append(
            check(
                f"{node}: chrony active",
                RIG.run(node, "systemctl is-active chrony").stdout.strip() == "active",
            )
        )
    for other in RIG.nodes:
        cmd = f"su - {RIG.admin_user} -c 'ssh -o BatchMode=yes {other} hostname'"
        out = RIG.run("node0", cmd, check=False).stdout.strip()
        results.append(check(f"node0 -> {other}: key login, no prompt", out == other))
    return all(results)


class Progress:
    """A deploy's progress, a line per phase and per step: when it ended, how long it took and on
    which nodes it changed something (pyinfra's own lines, condensed)."""

    PHASES = {  # pyinfra's phase -> what the line says it starts
        "Connecting to hosts": "connecting to the nodes",
        "Preparing operation files": "reading the nodes' facts, planning",
        "Beginning operation run": "applying, step by step (the time each ended and took):",
    }

    def __init__(self):
        self.step, self.since, self.changed = None, 0.0, []

    def __call__(self, line: str, seconds: float) -> None:
        text = line.strip()
        if text.startswith("--> Starting operation: "):
            step = text.removeprefix("--> Starting operation: ").split(" | ")[0]
            if step != self.step:
                self.end(seconds)
                self.step, self.since = step, seconds
        elif text.startswith("--> "):
            phase = next((done for start, done in self.PHASES.items() if text[4:].startswith(start)), None)
            if text[4:].startswith(("Results", "Disconnecting")):
                self.end(seconds)
            if phase:
                self.phase(phase, seconds)
        elif self.step and text.endswith(("Success", "Error")) and text.startswith("["):
            node = text[1:].split("]")[0]
            self.changed += [] if node in self.changed else [node]

    def phase(self, phase: str, seconds: float) -> None:
        print(f"  {seconds:6.1f} s  {phase}", flush=True)

    def end(self, seconds: float) -> None:
        if self.step:
            where = f": changed on {', '.join(sorted(self.changed))}" if self.changed else ""
            print(f"  {seconds:6.1f} s  {self.step} ({seconds - self.since:.1f} s){where}", flush=True)
        self.step, self.changed = None, []


def main() -> int:
    print(f"Bringing up the rig ({RIG.suite}, {RIG.subnet}) ...")
    RIG.up()
    print("First deploy (password login):", flush=True)
    first = RIG.deploy(first_login=True, progress=Progress())
    if first.returncode:
        print(first.output[-4000:])
        return 1
    print("Second deploy (key login):", flush=True)
    second = RIG.deploy(progress=Progress())
    if second.returncode:
        print(second.output[-4000:])
        return 1
    changed = sum(len(hosts) for hosts in second.changed().values())
    print(
        f"First deploy (password login):  {first.seconds:6.1f} s, {len(first.changed())} operations changed"
    )
    print(f"Second deploy (key login):      {second.seconds:6.1f} s, {changed} changes (idempotent)")
    print("Verified:")
    ok = verify() and changed == 0
    print("\nSlurm (sinfo -N):")
    deadline = time.time() + 90
    sinfo = ""
    while sinfo.count("idle") < len(RIG.nodes) and time.time() < deadline:
        sinfo = RIG.run("node0", "sinfo -N -o '%N %T %G %P'", check=False).stdout
        time.sleep(1)
    print("  " + sinfo.strip().replace("\n", "\n  "))
    ok = check("every node idle with its GPU", sinfo.count("idle gpu:") == len(RIG.nodes)) and ok
    print("\npyinfra tests/rig/inventory.py validate.py:")
    validate = RIG.deploy(deploy_file="validate.py")
    lines = validate.output.splitlines()
    start = next((i for i, line in enumerate(lines) if "validate.py report" in line), len(lines))
    print(
        "\n".join(
            line
            for line in lines[start + 1 :]
            if line.startswith("  ") and line[2:6] in ("PASS", "FAIL", "SKIP")
        )
    )
    ok = check("validate.py", validate.returncode == 0) and ok
    url = f"http://{RIG.nodes['node0']}:8080/"
    answers = RIG.run(
        "node0", f"python3 -c 'import urllib.request; urllib.request.urlopen(\"{url}\")'", check=False
    )
    ok = check("web view answers", answers.returncode == 0) and ok
    print(f"\nWeb view of the cluster (from this machine, inside the rig's network): {url}")
    print(f"Slurm REST API: http://{RIG.nodes['node0']}:6820/ with a token from `scontrol token` on node0")
    print(
        "\nThe rig is left running: `pyinfra tests/rig/inventory.py deploy.py` deploys to it again, "
        "`make rig-down` removes it."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
