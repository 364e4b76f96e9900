"""Record the facts' outputs on a running rig (`make demo`): `python tests/unit/data/facts/record.py`.

Each case runs the fact's own command as root on a rig node (as the deploy does, through sudo) and
writes <Fact>/<case>.json: the arguments, the command, the output lines and the value process()
makes of them. Read every new value before committing it: the test holds the parser to it.
Never record a secret (the munge key, the JWT key): Base64File is recorded on /etc/hostname, and a
munge credential's body is cut. Cases from real machines are written by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "rig")]

from rig import RIG  # noqa: E402

from facts.files import Base64File, PathStates, PublicKeyFile, SshHostKey, Tree  # noqa: E402
from facts.munge import MungeCredential, UnmungeStatus  # noqa: E402
from facts.nvidia import CudaToolkit, HeldPackages, NvidiaGpus, NvidiaKernelModule, NvidiaPciGpus, SecureBoot  # noqa: E402
from facts.python import VenvPackages  # noqa: E402
from facts.slurm import (  # noqa: E402
    AccountingClusters,
    SlurmAssociations,
    SlurmDatabaseLogin,
    SlurmdHardware,
    SlurmNodes,
    SlurmQos,
    SlurmVersion,
)
from facts.system import (  # noqa: E402
    Accounts,
    ClockOffset,
    CommandResult,
    InterfaceWithAddress,
    ServiceStarts,
    UfwStatus,
    WiredAddress,
)
from facts.torch import TorchVersion  # noqa: E402

CUT = "MUNGE:AwQFAAB(the credential body cut)=:"
CASES = [  # (case name, fact, arguments, node)
    ("rig-user-and-service-accounts", Accounts, {}, "node1"),
    ("hostname", Base64File, {"path": "/etc/hostname"}, "node1"),
    ("missing", Base64File, {"path": "/etc/gpucluster/none"}, "node1"),
    ("chrony-synchronised", ClockOffset, {}, "node1"),
    ("sinfo-nodes", CommandResult, {"command": "sinfo -h -N -o '%N %T'"}, "node0"),
    ("failing-command", CommandResult, {"command": "ls /nonexistent"}, "node0"),
    ("no-toolkit", CudaToolkit, {}, "node1"),
    ("rig-eth0", InterfaceWithAddress, {"ip": RIG.nodes["node1"]}, "node1"),
    ("rig-static", WiredAddress, {"ip": RIG.nodes["node1"]}, "node1"),
    ("no-such-address", InterfaceWithAddress, {"ip": "10.255.255.1"}, "node1"),
    ("admin-key", PublicKeyFile, {"path": f"/home/{RIG.admin_user}/.ssh/id_ed25519.pub"}, "node0"),
    ("host-key", SshHostKey, {}, "node1"),
    ("rig-2-cpus", SlurmdHardware, {}, "node1"),
    ("slurm-wlm", SlurmVersion, {}, "node1"),
    ("as-the-rig-runs", SlurmNodes, {}, "node0"),
    ("cpu-wheel", TorchVersion, {"venv": "/opt/pytorch"}, "node1"),
    ("no-venv", TorchVersion, {"venv": "/opt/none"}, "node1"),
    (  # one installed, one not
        "jupyterlab-and-absent",
        VenvPackages,
        {"venv": "/opt/pytorch", "names": ["jupyterlab", "nvidia-ml-py"]},
        "node1",
    ),
    ("no-venv", VenvPackages, {"venv": "/opt/none", "names": ["jupyterlab"]}, "node1"),
    ("job-scripts", Tree, {"path": "/opt/gpucluster/jobs"}, "node1"),
    (  # a file with and without its digest, a directory, a link, a path that does not exist
        "managed-paths",
        PathStates,
        {
            "paths": [
                "/etc/gpucluster",
                "/etc/gpucluster/job.env",
                "/etc/hosts",
                "/etc/localtime",
                "/etc/none",
            ],
            "digests": ["/etc/gpucluster", "/etc/gpucluster/job.env", "/etc/localtime", "/etc/none"],
        },
        "node1",
    ),
    ("not-installed", UfwStatus, {}, "node1"),
    (  # running, not installed; a configuration and a path that does not exist
        "slurmctld-and-its-configuration",
        ServiceStarts,
        {"units": ["slurmctld.service", "ufw.service"], "paths": ["/etc/slurm/slurm.conf", "/etc/none"]},
        "node0",
    ),
    ("cluster", AccountingClusters, {}, "node0"),
    ("converged", SlurmQos, {}, "node0"),
    ("converged", SlurmAssociations, {"cluster": "gpucluster"}, "node0"),
    (
        "password-works",
        SlurmDatabaseLogin,
        {"secret": "/etc/slurm/slurmdbd-storage.conf", "database": "slurm_acct_db"},
        "node0",
    ),
    ("container", NvidiaGpus, {}, "node1"),
    ("container", NvidiaPciGpus, {}, "node1"),
    ("container", NvidiaKernelModule, {}, "node1"),
    ("none", HeldPackages, {}, "node1"),
    ("container", SecureBoot, {}, "node1"),
]


def shell(fact, args) -> str:
    command, needs = fact().command(**args), fact().requires_command
    needs = needs(**args) if callable(needs) else needs
    if needs:  # as pyinfra runs it (api/facts.py)
        command = f"if command -v {needs} >/dev/null 2>&1; then ( {command} ); else echo MISSING; fi"
    return command


def record(name, fact, args, node):
    out = RIG.run(node, shell(fact, args), check=False).stdout.splitlines()
    out = [] if out == ["MISSING"] else out  # pyinfra gives a missing command's fact its default
    value = fact().process(out) if out else fact().default()
    case = {
        "node": f"{RIG.suite} rig, {node}",
        "args": args,
        "command": fact().command(**args),
        "output": out,
    }
    case["fact"] = json.loads(json.dumps(value))
    path = HERE / fact.__name__ / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(case, indent=2) + "\n")
    return case


if __name__ == "__main__":
    for name, fact, args, node in CASES:
        record(name, fact, args, node)
    # a credential is a short-lived token: the cases keep its shape and what node0 says of it
    credential = RIG.run("node1", "munge -n").stdout.strip()
    out = RIG.run("node0", UnmungeStatus().command(credential=credential)).stdout.splitlines()
    for fact, args, output in (
        (MungeCredential, {}, [CUT]),
        (UnmungeStatus, {"credential": CUT}, out),
    ):
        case = {"node": f"{RIG.suite} rig: node1's credential, the body cut; node0 decodes it", "args": args}
        case |= {"command": fact().command(**args), "output": output}
        case["fact"] = fact().process(output)
        (HERE / fact.__name__).mkdir(exist_ok=True)
        (HERE / fact.__name__ / "credential.json").write_text(json.dumps(case, indent=2) + "\n")
    record("not-a-credential", UnmungeStatus, {"credential": "MUNGE:AAAA:"}, "node0")
