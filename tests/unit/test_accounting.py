"""slurmdbd.conf, the slurmrestd drop-in and the web view's unit, rendered from their templates."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from types import SimpleNamespace

import pytest

from operations.render import render
from steps import accounting, restapi, webview


def spec(rest_api: bool = True) -> SimpleNamespace:
    controller = SimpleNamespace(name="node0", ip=IPv4Address("10.77.0.10"))
    return SimpleNamespace(
        cluster_name="gpucluster",
        network=IPv4Network("10.77.0.0/24"),
        controller=controller,
        rest_api=SimpleNamespace(enabled=rest_api, port=6820),
        webview=SimpleNamespace(port=8080, allow=(), refresh_s=10),
        metrics=SimpleNamespace(enabled=True, prometheus_port=9090, scrape_interval_s=15),
    )


@pytest.mark.parametrize("rest_api", [True, False])
def test_slurmdbd_conf_holds_no_password_and_names_the_jwt_key_only_with_the_rest_api(rest_api):
    conf = render(
        "slurmdbd.conf.j2",
        spec=spec(rest_api),
        port=accounting.PORT,
        database=accounting.DATABASE,
        secret=accounting.SECRET,
        jwt_key=restapi.KEY,
    )
    assert "StoragePass" not in conf.replace("# The database password is not here", "")
    assert f"Include {accounting.SECRET}\n" in conf
    assert "StorageType=accounting_storage/mysql\n" in conf
    assert "DbdHost=node0\n" in conf
    assert ("AuthAltTypes=auth/jwt\n" in conf) is rest_api
    assert (f"AuthAltParameters=jwt_key={restapi.KEY}\n" in conf) is rest_api


def test_the_password_is_made_and_read_on_the_controller_never_in_a_command():
    assert "umask 077" in accounting.MAKE_SECRET and "/dev/urandom" in accounting.MAKE_SECRET
    assert (
        "IDENTIFIED BY '$(sed -n 's/^StoragePass=//p' /etc/slurm/slurmdbd-storage.conf)'" in accounting.GRANT
    )


def test_slurmrestd_runs_unprivileged_with_jwt_on_the_cluster_address():
    unit = render("gpucluster-slurmrestd.conf.j2", spec=spec(), user=restapi.USER)
    assert "User=slurmrestd\n" in unit
    assert "Environment=SLURM_JWT=daemon\n" in unit
    assert "ExecStart=\nExecStart=/usr/sbin/slurmrestd -a rest_auth/jwt 10.77.0.10:6820\n" in unit
    assert "ConditionPathExists=\n" in unit


def test_the_web_view_listens_on_the_cluster_address_for_the_cluster_network():
    unit = render(
        "gpucluster-webview.service.j2",
        spec=spec(),
        user=webview.USER,
        app=webview.APP,
        allow=["10.77.0.0/24"],
        token_lifespan_s=webview.TOKEN_LIFESPAN_S,
    )
    assert "User=gpucluster-web\n" in unit
    assert "Environment=WEBVIEW_LISTEN=10.77.0.10\n" in unit
    assert "Environment=WEBVIEW_ALLOW=10.77.0.0/24\n" in unit
    assert "Environment=SLURMRESTD_URL=http://10.77.0.10:6820\n" in unit
    assert "Environment=PROMETHEUS_URL=http://10.77.0.10:9090\n" in unit  # finished jobs' GPU use
    assert "TOKEN" not in unit.replace("TOKEN_LIFESPAN_S", "")
