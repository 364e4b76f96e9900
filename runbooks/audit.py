"""Drift audit: the same things read from every node, and where a node differs from the others.

Used by audit.py. Hashes stand in for file contents (slurm.conf, the munge key), so a secret is
compared without ever being read off the node.
"""

from __future__ import annotations

from collections import Counter

from pyinfra import state
from pyinfra.facts.files import Sha256File
from pyinfra.facts.server import KernelVersion, OsRelease

from facts.nvidia import CudaToolkit, NvidiaKernelModule, NvidiaPowerLimits
from facts.slurm import SlurmVersion
from facts.system import ClockOffset
from facts.torch import TorchVersion
from model.spec import ClusterSpec

FIELDS = ("os", "kernel", "nvidia driver", "gpu power", "cuda", "slurm", "slurm.conf", "munge key", "torch")


def gather(spec: ClusterSpec) -> dict[str, dict]:
    """Per node: what it runs, and its clock offset in seconds."""
    rows = {}
    for node in spec.nodes:
        target = state.inventory.get_host(node.name)
        os_release = target.get_fact(OsRelease) or {}
        module = (target.get_fact(NvidiaKernelModule) or {}).get("loaded")
        slurm = target.get_fact(SlurmVersion)
        torch = target.get_fact(TorchVersion, venv=spec.torch_venv) if spec.pytorch else None
        limits = [f"{gpu['power_limit_w']:g} W" for gpu in target.get_fact(NvidiaPowerLimits)]
        rows[node.name] = {
            "os": f"{os_release.get('id', '?')} {os_release.get('version_id', '?')}",
            "kernel": target.get_fact(KernelVersion),
            "nvidia driver": f"{module['version']}{' open' if module['open'] else ''}" if module else "none",
            "gpu power": ", ".join(limits) or "none",
            "cuda": target.get_fact(CudaToolkit) or "none",
            "slurm": "{}.{:02d}.{}".format(*slurm) if slurm and len(slurm) == 3 else "none",
            "slurm.conf": _short(target.get_fact(Sha256File, path="/etc/slurm/slurm.conf")),
            "munge key": _short(target.get_fact(Sha256File, path="/etc/munge/munge.key")),
            "torch": torch["torch"] if torch else "none",
            "clock offset": target.get_fact(ClockOffset),
        }
    return rows


def _short(digest: str | None) -> str:
    return f"sha256:{digest[:12]}" if digest else "missing"


def problems(rows: dict[str, dict], clock_limit_s: float, power_limit_w: int | None = None) -> list[str]:
    """Each field on which some nodes differ from the most common value, each clock off too far, and
    each GPU not held to the power limit group_data sets."""
    found = []
    for field in FIELDS:
        values = Counter(row[field] for row in rows.values())
        if len(values) > 1:
            common, _ = values.most_common(1)[0]
            odd = [f"{name} has {row[field]}" for name, row in rows.items() if row[field] != common]
            others = [name for name, row in rows.items() if row[field] == common]
            found.append(f"{field}: {'; '.join(odd)} ({common} on {', '.join(others)})")
    for name, row in rows.items():
        held = [] if row["gpu power"] == "none" else row["gpu power"].split(", ")
        if power_limit_w is not None and any(limit != f"{power_limit_w} W" for limit in held):
            found.append(
                f"gpu power: {name} has {row['gpu power']}, nvidia['power_limit_w'] is {power_limit_w} W"
            )
        offset = row["clock offset"]
        if offset is None:
            found.append(f"clock offset: {name} has no chrony answer")
        elif abs(offset) > clock_limit_s:
            found.append(
                f"clock offset: {name} is {offset * 1000:+.1f} ms off (limit {clock_limit_s * 1000:.0f} ms)"
            )
    return found


def table(rows: dict[str, dict]) -> str:
    columns = ["node", *FIELDS, "clock offset"]
    body = [
        [
            name,
            *(str(row[f]) for f in FIELDS),
            "?" if row["clock offset"] is None else f"{row['clock offset'] * 1000:+.3f} ms",
        ]
        for name, row in rows.items()
    ]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)
