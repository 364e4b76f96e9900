"""The host firewall's rules and its lock-out guard (steps/firewall.py)."""

from __future__ import annotations

from ipaddress import IPv4Address

from specs import build

from operations.render import render
from steps.firewall import admits_ssh_from


def rules(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_inbound_is_dropped_unless_it_comes_from_the_cluster_subnet(key):  # noqa: F811
    found = rules(render("firewall.nft.j2", spec=build(key, firewall={"enabled": True}), ssh_port=22))
    assert "type filter hook input priority filter; policy drop;" in found
    accepts = [line for line in found if line.startswith("ip saddr")]
    assert accepts == ['ip saddr 10.20.0.0/24 accept comment "the cluster subnet"']


def test_admin_sources_get_ssh_and_nothing_else(key):  # noqa: F811
    spec = build(key, firewall={"enabled": True, "admin_sources": ["10.30.0.0/16"]})
    found = rules(render("firewall.nft.j2", spec=spec, ssh_port=2222))
    assert 'ip saddr 10.30.0.0/16 tcp dport 2222 accept comment "admin SSH"' in found
    assert admits_ssh_from(spec, IPv4Address("10.30.4.5"))
    assert admits_ssh_from(spec, IPv4Address("10.20.0.99"))
    assert not admits_ssh_from(spec, IPv4Address("10.31.0.1"))
