"""Cluster specs for the unit tests, built from the project's own group_data as pyinfra gives it
to the deploy: three nodes on a test subnet (never the real machines' addresses)."""

from __future__ import annotations

import runpy
from pathlib import Path

from model.spec import ClusterSpec

ROOT = Path(__file__).resolve().parents[2]
GROUP_DATA = {k: v for k, v in runpy.run_path(str(ROOT / "group_data" / "all.py")).items() if k[0] != "_"}


def hosts(key, count=3, controllers=("node0",), node=None, **settings):
    """(name, groups, data) per host, as pyinfra gives them: group_data merged into host data."""
    result = []
    for i in range(count):
        name = f"node{i}"
        data = {
            **GROUP_DATA,
            "deployer_ssh_key": key,
            "ssh_user": "labadmin",
            "cluster_ip": f"10.20.0.{10 + i}",
            "cluster_network": "10.20.0.0/24",  # a test subnet, not the real machines'
        }
        data.update(settings)
        if node and name in node:
            data.update(node[name])
            name = node[name].get("name", name)
        groups = ["compute"] + (["controller"] if f"node{i}" in controllers else [])
        result.append((name, groups, data))
    return result


def build(key, **kwargs) -> ClusterSpec:
    return ClusterSpec.from_hosts(hosts(key, **kwargs))
