"""validate.py's report: every check ends in a line, whatever its probe printed; warnings do not fail."""

from __future__ import annotations

import json

from facts.system import WiredAddress
from runbooks.checks import CheckFailed, CheckWarning, Report

DHCP = [  # `ip -o -4 addr show` on Ubuntu 24.04 with netplan's dhcp4: true
    "2: eno1    inet 10.20.0.11/24 metric 100 brd 10.20.0.255 scope global dynamic eno1\\"
    "       valid_lft 85963sec preferred_lft 85963sec"
]
STATIC = [
    "2: eno1    inet 10.20.0.11/24 brd 10.20.0.255 scope global eno1\\"
    "       valid_lft forever preferred_lft forever"
]


def test_an_output_that_does_not_parse_still_ends_in_its_line():
    report = Report()
    report.run("parses", lambda: json.loads("not json"))
    report.run("after it", lambda: "ran", needs=("parses",))
    report.run("independent", lambda: "fine")
    verdicts = {title: (verdict, evidence) for title, verdict, evidence in report.lines}
    assert verdicts["parses"][0] == "FAIL"
    assert "could not read the outcome (JSONDecodeError" in verdicts["parses"][1]
    assert verdicts["after it"] == ("SKIP", "needs: parses")
    assert verdicts["independent"][0] == "PASS"
    assert report.failed == ["parses", "after it"]
    assert "FAIL  parses" in report.text()


def test_a_warning_is_reported_and_does_not_fail():
    report = Report()

    def warns():
        raise CheckWarning("node1 has a DHCP lease")

    def fails():
        raise CheckFailed("node2 is down")

    report.run("addresses", warns)
    report.run("nodes", fails)
    assert [(t, v) for t, v, _ in report.lines] == [("addresses", "WARN"), ("nodes", "FAIL")]
    assert report.failed == ["nodes"]


def test_a_dhcp_lease_is_told_from_a_static_address():
    assert WiredAddress().process(DHCP) == {"interface": "eno1", "dynamic": True}
    assert WiredAddress().process(STATIC) == {"interface": "eno1", "dynamic": False}
    assert WiredAddress().process([]) is None
