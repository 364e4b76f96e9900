"""The shared directory's export and mount, as steps/nfs.py writes them on the nodes."""

from __future__ import annotations

import pytest
from specs import build

from model.spec import SpecError
from operations.render import render
from steps.nfs import fstab_line, unit_name


def test_the_export_reaches_the_cluster_subnet_only_with_root_squashed(key):  # noqa: F811
    spec = build(key)
    lines = render("gpucluster.exports.j2", spec=spec, shared=spec.shared).splitlines()
    exports = [line for line in lines if line and not line.startswith("#")]
    assert exports == ["/srv/gpucluster/shared 10.20.0.0/24(rw,sync,no_subtree_check,root_squash)"]


def test_every_node_mounts_the_controllers_export_without_waiting_for_it_at_boot(key):  # noqa: F811
    device, path, kind, options, dump, passno = fstab_line(build(key)).split()
    assert (device, path, kind, dump, passno) == ("node0:/srv/gpucluster/shared", "/shared", "nfs", "0", "0")
    options = options.split(",")
    # nofail + automount: boot never waits for node0; hard: I/O waits for it rather than failing.
    assert {"nofail", "x-systemd.automount", "_netdev", "hard"} <= set(options)
    assert "soft" not in options


def test_the_mount_follows_the_controller_and_the_configured_paths(key):  # noqa: F811
    shared = {"enabled": True, "path": "/data/lab-share", "export": "/srv/lab"}
    spec = build(key, controllers=("node2",), shared_dir=shared)
    assert fstab_line(spec).startswith("node2:/srv/lab /data/lab-share nfs ")
    assert unit_name(spec.shared.path) == "data-lab\\x2dshare"  # as `systemd-escape --path` has it


def test_mount_options_that_could_hang_a_nodes_boot_are_refused(key):  # noqa: F811
    shared = {"enabled": True, "mount_options": ["nfsvers=4.2", "hard"]}
    with pytest.raises(SpecError, match=r"shared_dir: mount_options lacks nofail, x-systemd.automount"):
        build(key, shared_dir=shared)
