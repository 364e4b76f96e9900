"""GPUs: the compatibility table, the fact parsers on recorded real output, the reboot decision and
the gres.conf lines that follow from the GPU fact.

Recorded outputs (tests/unit/data/), each copied verbatim from a public source:

- nvidia-smi-rtx5090-570.csv: an RTX 5090 on Ubuntu 24.04, driver 570.133.07, printed by
  ``nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,memory.free,utilization.gpu
  --format=csv,noheader,nounits`` (github.com/vuvietnguyenit/gpu-memleak-trace, docs/performance.md
  at 48eff9e10c9720e372580ddf31b061ec4f2ef75e; the query is script/basic-info.sh at 8d2dedc).
- nvidia-smi-no-devices.txt: nvidia-smi on an RTX 5090 the loaded driver cannot drive,
  https://github.com/NVIDIA/open-gpu-kernel-modules/issues/872
- nvidia-smi-no-driver.txt: nvidia-smi with no driver loaded, https://github.com/aws/amazon-ecs-ami/issues/277
- proc-version-open-525.60.11.txt: /proc/driver/nvidia/version of the open module (Arch,
  nvidia-open-dkms), https://github.com/nix-community/nixGL/issues/121
- proc-version-proprietary-550.144.03.txt: /proc/driver/nvidia/version of the proprietary module,
  read while nvidia-smi said "Driver/library version mismatch" (Ubuntu 24.04; "reboot helped"),
  github.com/asokolsky/asokolsky.github.io, hardware/nvidia/index.md
  at 149bfed22b15484ff2a083cf825ef173837f4628
- modinfo-open-580.82.09.txt: ``modinfo nvidia`` of the open module 580.82.09 on a machine with an
  RTX 5090 Laptop GPU, https://github.com/NVIDIA/open-gpu-kernel-modules/issues/935 (the quoted
  output ends inside the signature block; the cut-off last line of it is left out).
- modinfo-proprietary-545.29.06.txt: ``modinfo nvidia`` of the proprietary module 545.29.06 (Arch,
  nvidia-dkms, Tesla T4), github.com/LiarLee/LiarLee.github.io,
  source/_posts/AWS/Linux_UseNvidiaT4.md at c4d2a9062577f2bc0583102bb150157207e023d3

No public output of this project's exact nvidia-smi query (it adds compute_cap, pci.bus_id and
persistence_mode) was found: the real record above is parsed with its own field list, and the
multi-GPU cases below are written in the same format, which the test marks as constructed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError
from specs import build

from facts.nvidia import (
    GPU_FIELDS,
    HeldPackages,
    NvidiaGpus,
    NvidiaKernelModule,
    NvidiaPciGpus,
    SecureBoot,
    parse_gpu_csv,
    parse_kernel_module,
)
from model.gpu import COMPATIBILITY, NvidiaSettings
from model.gpu_node import (
    MODULE_ID_COMMAND,
    device_files,
    gres_conf_gpus,
    module_id,
    reboot_reason,
    rebooted_for_it,
)
from model.nvidia_packages import (
    builds_with_dkms,
    distribution,
    driver_packages,
    kernel_flavour,
    kernel_headers,
    packages_to_hold,
    secure_boot_refusal,
)
from model.spec import ClusterSpec, Desktop, SpecError
from operations.render import render
from steps.desktop import DESKTOPS

DATA = Path(__file__).resolve().parent / "data"
UBUNTU = distribution({"id": "ubuntu", "version_id": "24.04"}, "x86_64")
DEBIAN_RELEASE = {"id": "debian", "version_id": "12"}
DEBIAN = distribution(DEBIAN_RELEASE, "x86_64")


def lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


# --- the compatibility table -------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, expected",
    [
        (
            {"driver_branch": 560},
            ["driver_branch 560 cannot drive an NVIDIA GeForce RTX 5090", "570 or newer"],
        ),
        ({"cuda": "12.6"}, ["cuda 12.6 cannot build for an NVIDIA GeForce RTX 5090", "CUDA 12.8 or newer"]),
        ({"driver_flavour": "proprietary"}, ["driver_flavour 'proprietary' cannot drive", '"open"']),
        ({"driver_branch": 570, "cuda": "13.0"}, ["cuda 13.0 needs driver branch 580 or newer"]),
        ({"gpu": "NVIDIA GeForce GTX 1080"}, ["not in the compatibility table", "NVIDIA GeForce RTX 5090"]),
    ],
    ids=["driver 560", "CUDA 12.6", "proprietary modules", "CUDA 13 on 570", "unknown GPU"],
)
def test_what_cannot_drive_the_gpu_is_refused_naming_what_works(settings, expected):
    with pytest.raises(ValidationError) as err:
        NvidiaSettings(**settings)
    for text in expected:
        assert text in str(err.value)


@pytest.mark.parametrize("branch", [570, 580])
@pytest.mark.parametrize("cuda", ["12.8", "12.9"])
def test_the_open_modules_570_or_580_with_cuda_12_8_or_newer_drive_an_rtx_5090(branch, cuda):
    settings = NvidiaSettings(driver_branch=branch, driver_flavour="open", cuda=cuda)
    assert settings.gpu == "NVIDIA GeForce RTX 5090"


def test_an_rtx_4090_takes_the_proprietary_550_driver_and_cuda_12_4():
    settings = NvidiaSettings(
        gpu="NVIDIA GeForce RTX 4090", driver_branch=550, driver_flavour="proprietary", cuda="12.4"
    )
    assert settings.cuda_package == "cuda-toolkit-12-4"
    with pytest.raises(ValidationError, match="525 or newer"):
        NvidiaSettings(gpu="NVIDIA GeForce RTX 4090", driver_branch=520, cuda="11.8")


def test_the_table_row_of_the_target_gpu():
    rtx5090 = COMPATIBILITY["NVIDIA GeForce RTX 5090"]
    assert (rtx5090.compute_capability, rtx5090.min_driver, rtx5090.min_cuda) == ((12, 0), 570, (12, 8))
    assert rtx5090.open_modules == "required"


def test_switched_off_nothing_is_checked():
    assert NvidiaSettings(enabled=False, driver_branch=560, cuda="12.6").driver_branch == 560


def test_a_bad_key_or_value_is_named():
    with pytest.raises(ValidationError) as err:
        NvidiaSettings(driver_branch="latest", cdua="12.8")
    assert "driver_branch: Input should be a valid integer" in str(err.value)
    assert "cdua: Extra inputs are not permitted" in str(err.value)


def spec_with(key: str, **nvidia) -> ClusterSpec:
    return build(key, nvidia=nvidia)


def test_the_guides_versions_stop_the_run_before_any_host_is_touched(key):
    with pytest.raises(SpecError) as err:
        spec_with(key, driver_branch=560, cuda="12.6")
    message = str(err.value)
    assert message.startswith("The cluster spec is invalid; nothing was changed on any host.")
    assert "  - nvidia: driver_branch 560 cannot drive an NVIDIA GeForce RTX 5090" in message
    assert "fix: use 570 or newer with the open modules" in message
    assert "  - nvidia: cuda 12.6 cannot build for an NVIDIA GeForce RTX 5090" in message
    assert "fix: use CUDA 12.8 or newer" in message


def test_group_data_defaults_and_a_version_change_in_group_data_alone(key):
    spec = spec_with(key)
    assert (spec.nvidia.driver_branch, spec.nvidia.driver_flavour, spec.nvidia.cuda) == (580, "open", "12.8")
    assert driver_packages(UBUNTU, spec.nvidia) == (
        "linux-modules-nvidia-580-open-generic",
        "nvidia-headless-no-dkms-580-open",
        "nvidia-utils-580",
    )
    assert spec.nvidia.cuda_package == "cuda-toolkit-12-8"
    changed = spec_with(key, driver_branch=570, cuda="12.9").nvidia
    assert driver_packages(UBUNTU, changed)[:2] == (
        "linux-modules-nvidia-570-open-generic",
        "nvidia-headless-no-dkms-570-open",
    )
    assert (changed.cuda_package, changed.cuda_home) == ("cuda-toolkit-12-9", "/usr/local/cuda-12.9")
    pin = render("gpucluster-nvidia-driver.j2", dist=DEBIAN, settings=changed)
    assert "Pin: version 570.*" in pin


# --- where the packages come from ---------------------------------------------------------------


def test_nvidias_repository_per_os():
    assert UBUNTU.repo_url == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/"
    assert UBUNTU.repo_list == "cuda-ubuntu2404-x86_64"
    assert DEBIAN.repo_line == (
        "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
        "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/ /"
    )
    assert distribution({"id": "debian", "version_id": "13"}, "x86_64").repo_dir == "debian13"
    for os_release, arch in (
        ({"id": "ubuntu", "version_id": "22.04"}, "x86_64"),
        (DEBIAN_RELEASE, "aarch64"),
    ):
        with pytest.raises(ValueError, match="Ubuntu 24.04, Debian 12, Debian 13 on x86_64"):
            distribution(os_release, arch)


def test_driver_packages_by_os_and_flavour_never_the_cuda_metapackages():
    open_, proprietary = (
        NvidiaSettings(),
        NvidiaSettings(gpu="NVIDIA GeForce RTX 4090", driver_flavour="proprietary"),
    )
    assert driver_packages(UBUNTU, proprietary)[:2] == (
        "linux-modules-nvidia-580-generic",
        "nvidia-headless-no-dkms-580",
    )
    assert driver_packages(UBUNTU, open_, "azure") == ("nvidia-driver-580-open",)  # no prebuilt: DKMS
    assert driver_packages(DEBIAN, open_) == ("nvidia-open",)
    assert driver_packages(DEBIAN, proprietary) == ("nvidia-driver", "nvidia-kernel-dkms")
    assert driver_packages(DEBIAN, NvidiaSettings(driver_packages=["nvidia-driver-cuda"])) == (
        "nvidia-driver-cuda",
    )
    for dist in (UBUNTU, DEBIAN):
        for settings in (open_, proprietary):
            assert not {"cuda", "cuda-drivers"} & {*driver_packages(dist, settings), settings.cuda_package}


def test_kernel_headers_follow_every_later_kernel():
    assert kernel_headers(UBUNTU, "6.8.0-60-generic", ["linux-image-generic"]) == [
        "linux-headers-6.8.0-60-generic",
        "linux-headers-generic",
    ]
    assert kernel_headers(UBUNTU, "6.14.0-29-generic", ["linux-image-generic-hwe-24.04"])[1] == (
        "linux-headers-generic-hwe-24.04"
    )
    assert kernel_headers(DEBIAN, "6.1.0-37-amd64", []) == [
        "linux-headers-6.1.0-37-amd64",
        "linux-headers-amd64",
    ]


def test_the_pin_keeps_ubuntus_driver_and_debians_branch():
    ubuntu = render("gpucluster-nvidia-driver.j2", dist=UBUNTU, settings=NvidiaSettings())
    assert "Pin: origin developer.download.nvidia.com\nPin-Priority: -1" in ubuntu
    pattern = re.search(r"^Package: /(.*)/$", ubuntu, re.M).group(1)
    for name in ("nvidia-driver-580-open", "libnvidia-compute-580", "nvidia-firmware-580-580.95.05"):
        assert re.search(pattern, name), name
    for name in ("nvidia-driver-570-open", "cuda-toolkit-12-8", "nvidia-container-toolkit"):
        assert not re.search(pattern, name), name
    debian = render("gpucluster-nvidia-driver.j2", dist=DEBIAN, settings=NvidiaSettings())
    assert "Pin: version 580.*\nPin-Priority: 1000" in debian


def test_every_installed_driver_package_is_held_once():
    installed = {
        "nvidia-driver-580-open": ["580.95.05"],
        "libnvidia-compute-580": ["580.95.05"],
        "nvidia-dkms-580-open": ["580.95.05"],
        "nvidia-container-toolkit": ["1.17.8"],
        "cuda-toolkit-12-8": ["12.8.1-1"],
        "linux-headers-generic": ["6.8.0.60.63"],
    }
    assert packages_to_hold({"dkms": []}, [], ["nvidia-driver-580-open"]) is None  # not installed yet
    assert packages_to_hold(installed, [], ["nvidia-driver-580-open"]) == [
        "libnvidia-compute-580",
        "nvidia-dkms-580-open",
        "nvidia-driver-580-open",
    ]
    assert packages_to_hold(installed, ["libnvidia-compute-580"], ["nvidia-driver-580-open"]) == [
        "nvidia-dkms-580-open",
        "nvidia-driver-580-open",
    ]
    held = ["libnvidia-compute-580", "nvidia-dkms-580-open", "nvidia-driver-580-open"]
    assert packages_to_hold(installed, held, ["nvidia-driver-580-open"]) == []  # converged: nothing to do


# --- fact parsers on recorded output -------------------------------------------------------------

RECORDED_QUERY = (
    "index",
    "name",
    "driver_version",
    "memory.total",
    "memory.used",
    "memory.free",
    "utilization.gpu",
)


def test_nvidia_smi_csv_of_a_real_rtx_5090():
    assert parse_gpu_csv(lines("nvidia-smi-rtx5090-570.csv"), RECORDED_QUERY) == [
        {
            "index": 0,
            "name": "NVIDIA GeForce RTX 5090",
            "driver_version": "570.133.07",
            "memory_mib": 32607,
            "memory_used": 4492,
            "memory_free": 27620,
            "utilization_gpu": 0,
        }
    ]


def test_nvidia_smi_without_a_working_driver_lists_no_gpu():
    assert parse_gpu_csv(lines("nvidia-smi-no-devices.txt")) == []
    assert parse_gpu_csv(lines("nvidia-smi-no-driver.txt")) == []
    fact = NvidiaGpus()
    assert fact.process(lines("nvidia-smi-no-driver.txt")) == [] and fact.default() == []


# Constructed in the format of the record above (nvidia-smi's ", " separator, no units) for this
# project's query, plus the lines `grep -H 'Device Minor' /proc/driver/nvidia/gpus/*/information` prints.
FOUR_GPUS = [
    "0, NVIDIA GeForce RTX 5090, 580.95.05, 32607, 12.0, 00000000:01:00.0, Enabled",
    "1, NVIDIA GeForce RTX 5090, 580.95.05, 32607, 12.0, 00000000:41:00.0, Enabled",
    "2, NVIDIA GeForce RTX 5090, 580.95.05, 32607, 12.0, 00000000:81:00.0, Disabled",
    "3, NVIDIA GeForce RTX 5090, 580.95.05, 32607, 12.0, 00000000:C1:00.0, [N/A]",
    "/proc/driver/nvidia/gpus/0000:01:00.0/information:Device Minor: \t 0",
    "/proc/driver/nvidia/gpus/0000:41:00.0/information:Device Minor: \t 1",
    "/proc/driver/nvidia/gpus/0000:81:00.0/information:Device Minor: \t 2",
    "/proc/driver/nvidia/gpus/0000:c1:00.0/information:Device Minor: \t 3",
]


def test_the_gpu_fact_reads_every_gpu_and_its_device_minor():
    gpus = NvidiaGpus().process(FOUR_GPUS)
    assert gpus[0] == {
        "index": 0,
        "name": "NVIDIA GeForce RTX 5090",
        "driver_version": "580.95.05",
        "memory_mib": 32607,
        "compute_capability": "12.0",
        "bus_id": "00000000:01:00.0",
        "persistence_mode": True,
        "minor": 0,
    }
    assert [(g["minor"], g["persistence_mode"]) for g in gpus] == [
        (0, True),
        (1, True),
        (2, False),
        (3, None),
    ]
    command = NvidiaGpus().command()
    assert "--query-gpu=" + ",".join(GPU_FIELDS) in command and "--format=csv,noheader,nounits" in command
    assert command.endswith("; true")  # no driver, no nvidia-smi: an empty answer, never a failed fact


def test_the_loaded_module_from_proc_open_and_proprietary():
    assert parse_kernel_module(lines("proc-version-open-525.60.11.txt")) == {
        "loaded": {"version": "525.60.11", "open": True},
        "installed": None,
    }
    assert parse_kernel_module(lines("proc-version-proprietary-550.144.03.txt"))["loaded"] == {
        "version": "550.144.03",
        "open": False,
    }


def test_the_installed_module_from_modinfo_open_and_proprietary():
    assert parse_kernel_module(lines("modinfo-open-580.82.09.txt")) == {
        "loaded": None,
        "installed": {
            "version": "580.82.09",
            "open": True,
            "file": "/lib/modules/6.16.8-arch1-1/updates/dkms/nvidia.ko.zst",
        },
    }
    assert parse_kernel_module(lines("modinfo-proprietary-545.29.06.txt"))["installed"]["open"] is False


def test_the_module_fact_reads_both_from_one_stream():
    """The fact's command prints /proc/driver/nvidia/version, then modinfo: here two records joined."""
    fact = NvidiaKernelModule()
    assert "cat /proc/driver/nvidia/version" in fact.command() and "modinfo nvidia" in fact.command()
    found = fact.process(lines("proc-version-open-525.60.11.txt") + lines("modinfo-open-580.82.09.txt"))
    assert found["loaded"] == {"version": "525.60.11", "open": True}
    assert found["installed"]["version"] == "580.82.09"
    assert fact.default() == {"loaded": None, "installed": None}


def test_pci_gpus_and_held_packages():
    assert NvidiaPciGpus().process(["0000:01:00.0 0x2b85"]) == [
        {"bus_id": "0000:01:00.0", "device": "0x2b85"}
    ]
    assert "systemd-detect-virt -q --container && exit 0" in NvidiaPciGpus().command()
    assert HeldPackages().process(["nvidia-driver-580-open", "", "libnvidia-compute-580"]) == [
        "libnvidia-compute-580",
        "nvidia-driver-580-open",
    ]


# --- the reboot decision -------------------------------------------------------------------------

GPU = [{"bus_id": "0000:01:00.0", "device": "0x2b85"}]
OPEN_580 = parse_kernel_module(lines("modinfo-open-580.82.09.txt"))["installed"]
OPEN_525 = parse_kernel_module(lines("proc-version-open-525.60.11.txt"))["loaded"]


def test_no_module_loaded_means_a_reboot():
    assert "is installed but not loaded" in reboot_reason(GPU, {"loaded": None, "installed": OPEN_580})
    assert "no nvidia kernel module is installed" in reboot_reason(GPU, {"loaded": None, "installed": None})


def test_a_loaded_module_that_is_not_the_installed_one_means_a_reboot():
    """Recorded loaded 525.60.11 against recorded installed 580.82.09: an upgrade without a reboot."""
    reason = reboot_reason(GPU, {"loaded": OPEN_525, "installed": OPEN_580})
    assert "open 525.60.11" in reason and "open 580.82.09" in reason
    proprietary = {**OPEN_580, "open": False}
    assert "proprietary 580.82.09" in reboot_reason(GPU, {"loaded": proprietary, "installed": OPEN_580})


def test_a_converged_node_is_never_rebooted():
    running = {"version": OPEN_580["version"], "open": True}
    assert reboot_reason(GPU, {"loaded": running, "installed": OPEN_580}) is None


def test_without_a_gpu_no_reboot_can_help():
    """No NVIDIA GPU on the bus (or a container, which cannot load modules): never reboot, whatever
    is installed. This is the rig: the plan must show no reboot there."""
    assert reboot_reason([], {"loaded": None, "installed": None}) is None
    assert reboot_reason([], {"loaded": None, "installed": OPEN_580}) is None
    assert reboot_reason([], None) is None


# --- Slurm from the GPU fact ---------------------------------------------------------------------


ONE_CORE = dict(cpus=1, boards=1, sockets_per_board=1, cores_per_socket=1, threads_per_core=1, real_memory=1)
HARDWARE = {"CPUs": 8, "Boards": 1, "SocketsPerBoard": 1, "CoresPerSocket": 8, "ThreadsPerCore": 1}
HARDWARE["hwloc"] = {"packages": 1, "cores": 24, "pus": 24}


def test_gres_from_the_gpu_fact():
    four = NvidiaGpus().process(FOUR_GPUS)
    assert gres_conf_gpus(four, fallback=1) == (4, "/dev/nvidia[0-3]")
    assert gres_conf_gpus(four[:1], fallback=4) == (1, "/dev/nvidia0")
    assert gres_conf_gpus([four[0], four[2], four[3]], fallback=1) == (3, "/dev/nvidia[0,2-3]")
    assert gres_conf_gpus([{**four[1], "minor": None}], fallback=1) == (1, "/dev/nvidia1")  # the index, then


def test_group_data_is_the_fallback_when_the_fact_lists_no_gpu():
    assert gres_conf_gpus([], fallback=1) == (1, "/dev/nvidia0")
    assert gres_conf_gpus(None, fallback=0) == (0, "")
    assert gres_conf_gpus([], fallback=4) == (4, "/dev/nvidia[0-3]")
    assert device_files([3, 1, 2, 0, 7]) == "/dev/nvidia[0-3,7]"


def test_slurm_configs_take_the_gpus_from_the_fact_and_keep_the_type(key):
    spec = spec_with(key)
    facts = {
        "node0": NvidiaGpus().process(FOUR_GPUS),
        "node1": NvidiaGpus().process(FOUR_GPUS[:1]),
        "node2": [],
    }
    hardware = {name: {**HARDWARE, "RealMemory": 128530} for name in facts}
    nodes = spec.slurm_nodes(hardware, facts)
    gres = render("gres.conf.j2", spec=spec, nodes=nodes).splitlines()
    assert [line for line in gres if not line.startswith("#")] == [
        "NodeName=node0 Name=gpu Type=rtx5090 File=/dev/nvidia[0-3]",
        "NodeName=node1 Name=gpu Type=rtx5090 File=/dev/nvidia0",
        "NodeName=node2 Name=gpu Type=rtx5090 File=/dev/nvidia0",  # no driver answering yet: group_data's 1
    ]
    assert [n.gpus for n in nodes] == [4, 1, 1]


# --- what the driver deploy writes ---------------------------------------------------------------


def test_cuda_is_on_path_once_for_login_shells(tmp_path):
    profile = tmp_path / "cuda.sh"
    profile.write_text(render("cuda.sh.j2", settings=NvidiaSettings()))
    out = subprocess.run(
        ["sh", "-c", f". {profile}; . {profile}; echo $CUDA_HOME; echo $PATH"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert out[0] == "/usr/local/cuda-12.8"
    assert out[1].split(":") == ["/usr/local/cuda-12.8/bin", "/usr/bin", "/bin"]


def test_nouveau_blacklist():
    assert render("blacklist-nouveau.conf.j2").splitlines()[1:] == [
        "blacklist nouveau",
        "options nouveau modeset=0",
    ]


def test_the_desktop_choices():
    assert DESKTOPS[("gnome-minimal", "ubuntu")] == (["ubuntu-desktop-minimal"], "gdm")
    assert DESKTOPS[("cinnamon", "ubuntu")][1] == "lightdm"
    assert Desktop().kind == "none" and Desktop().display_manager is False
    with pytest.raises(ValidationError, match="kind"):
        Desktop(kind="kde")


def test_a_desktop_left_in_the_nvidia_settings_is_named_with_its_new_place(key):
    with pytest.raises(SpecError) as err:
        build(key, nvidia={"desktop": "cinnamon"})
    assert "nvidia: desktop: the desktop is a setting of its own; fix: set desktop = {...}" in str(err.value)


# --- Secure Boot: Canonical's signed prebuilt modules, DKMS refused, never a second reboot ------


def test_prebuilt_modules_follow_the_kernel_flavour():
    ga, hwe = ["linux-image-generic"], ["linux-image-generic-hwe-24.04"]
    assert kernel_flavour("6.8.0-60-generic", ga) == "generic"
    assert kernel_flavour("6.14.0-29-generic", hwe) == "generic-hwe-24.04"
    assert driver_packages(UBUNTU, NvidiaSettings(), kernel_flavour("6.14.0-29-generic", hwe))[0] == (
        "linux-modules-nvidia-580-open-generic-hwe-24.04"
    )
    assert not builds_with_dkms(driver_packages(UBUNTU, NvidiaSettings()))
    assert builds_with_dkms(driver_packages(DEBIAN, NvidiaSettings()))


def test_secure_boot_on_refuses_a_dkms_driver_and_names_the_fix():
    assert SecureBoot().process(["SecureBoot enabled"]) is True
    assert SecureBoot().process(["SecureBoot disabled"]) is False
    assert SecureBoot().process(["EFI variables are not supported on this system"]) is None
    dkms = driver_packages(DEBIAN, NvidiaSettings())
    assert "mokutil --import" in secure_boot_refusal(True, dkms)
    assert secure_boot_refusal(False, dkms) is None
    assert secure_boot_refusal(None, dkms) is None
    assert secure_boot_refusal(True, driver_packages(UBUNTU, NvidiaSettings())) is None  # signed


def test_with_prebuilt_modules_the_kernel_is_held_with_the_driver():
    packages = driver_packages(UBUNTU, NvidiaSettings())
    installed = {
        *packages,
        "libnvidia-compute-580",
        "linux-generic-hwe-24.04",
        "linux-image-generic-hwe-24.04",
    }
    assert packages_to_hold(installed, [], packages) == sorted(installed)
    dkms = {"nvidia-driver-580-open", "linux-image-generic"}
    assert packages_to_hold(dkms, [], ["nvidia-driver-580-open"]) == ["nvidia-driver-580-open"]


def test_a_node_is_never_rebooted_twice_for_the_same_driver():
    module = {"loaded": None, "installed": OPEN_580}
    assert not rebooted_for_it(None, module)
    assert rebooted_for_it([module_id(OPEN_580)], module)
    assert not rebooted_for_it(["570.133.20 open"], module)  # rebooted for an older driver: once more
    assert not rebooted_for_it([module_id(OPEN_580)], {"loaded": None, "installed": None})
    assert rebooted_for_it(["none"], {"loaded": None, "installed": None})  # still no module: once only


def test_the_marker_is_written_as_module_id_reads_it(tmp_path):
    """MODULE_ID_COMMAND, run on the node before the reboot, prints what module_id makes of the
    same module (here a stand-in modinfo answering as the recorded one, then as none installed)."""
    modinfo = tmp_path / "modinfo"
    for answer, module in (
        ('case "$2" in version) echo 580.82.09;; license) echo "Dual MIT/GPL";; esac', OPEN_580),
        ("exit 1", None),
    ):
        modinfo.write_text(f"#!/bin/sh\n{answer}\n")
        modinfo.chmod(0o755)
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
        out = subprocess.run(["sh", "-c", MODULE_ID_COMMAND], capture_output=True, text=True, env=env)
        assert out.stdout.strip() == module_id(module) == ("580.82.09 open" if module else "none")


def test_the_power_limit_unit_sets_every_gpu_at_boot_after_persistenced():
    unit = render("gpucluster-gpu-power.service.j2", watts=450).splitlines()
    assert "ExecStart=/usr/bin/nvidia-smi --power-limit=450" in unit
    assert "After=nvidia-persistenced.service" in unit and "WantedBy=multi-user.target" in unit
    assert NvidiaSettings().power_limit_w is None  # the card's own limit unless group_data sets one
    with pytest.raises(ValidationError, match="power_limit_w"):
        NvidiaSettings(power_limit_w=50)
