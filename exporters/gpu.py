"""The GPU exporter: each GPU's utilisation, memory, temperature, power, clocks and errors, read through
NVML at every scrape, for the controller's Prometheus.

NVML through NVIDIA's own Python binding (PyPI nvidia-ml-py, imported as pynvml), not DCGM: DCGM
supports data-center cards, and a GeForce card gets only part of its fields, from a service of its
own; NVML answers every reading here for an RTX 5090, and the binding is one pure-Python module
from the same vendor as the driver. A reading the card does not report (ECC on a GeForce) is left
out, not sent as zero. Xid errors arrive as NVML events, counted from the exporter's start.

steps/metrics.py runs it on every compute node from its own virtual environment, which also sees
the OS's prometheus_client. It listens on the node's cluster address only. Without a driver (NVML
not found, or no GPU) it answers with gpucluster_gpu_nvml_up 0 and tries NVML again at the next
scrape. Settings from the environment: GPU_EXPORTER_LISTEN, GPU_EXPORTER_PORT.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily

PREFIX = "gpucluster_gpu"
XID_WAIT_MS = 5000


def read(nvml) -> list[dict]:
    """Every GPU's readings, keyed by its minor number (/dev/nvidiaN, what gres.conf names); a reading
    the card does not support is None."""

    def get(call, *args):
        try:
            return call(*args)
        except nvml.NVMLError_NotSupported:
            return None

    gpus = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        utilization = get(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        power_mw = get(nvml.nvmlDeviceGetPowerUsage, handle)
        limit_mw = get(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        ecc = {
            kind: get(nvml.nvmlDeviceGetTotalEccErrors, handle, error_type, nvml.NVML_VOLATILE_ECC)
            for kind, error_type in (
                ("corrected", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                ("uncorrected", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
            )
        }
        gpus.append(
            {
                "gpu": str(nvml.nvmlDeviceGetMinorNumber(handle)),
                "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                "name": _text(nvml.nvmlDeviceGetName(handle)),
                "utilization": None if utilization is None else utilization.gpu / 100,
                "memory_utilization": None if utilization is None else utilization.memory / 100,
                "memory_used_bytes": memory.used,
                "memory_total_bytes": memory.total,
                "temperature_celsius": get(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
                "power_watts": None if power_mw is None else power_mw / 1000,
                "power_limit_watts": None if limit_mw is None else limit_mw / 1000,
                "sm_clock_hertz": _mhz(get(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)),
                "memory_clock_hertz": _mhz(get(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM)),
                "ecc_errors": {k: v for k, v in ecc.items() if v is not None},
            }
        )
    return gpus


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mhz(value):
    return None if value is None else value * 1_000_000


GAUGES = (
    ("utilization", "utilization_ratio", "share of the last sample period a kernel ran (0-1)"),
    ("memory_utilization", "memory_utilization_ratio", "share of the period memory was read or written"),
    ("memory_used_bytes", "memory_used_bytes", "framebuffer memory in use"),
    ("memory_total_bytes", "memory_total_bytes", "framebuffer memory in all"),
    ("temperature_celsius", "temperature_celsius", "GPU core temperature"),
    ("power_watts", "power_watts", "power draw"),
    ("power_limit_watts", "power_limit_watts", "the power limit in force"),
    ("sm_clock_hertz", "sm_clock_hertz", "streaming multiprocessor clock"),
    ("memory_clock_hertz", "memory_clock_hertz", "memory clock"),
)


def families(gpus: list[dict] | None, driver: str | None, xids: Counter) -> list:
    """The metric families of one scrape; `gpus` None: NVML did not answer."""
    up = GaugeMetricFamily(f"{PREFIX}_nvml_up", "1: NVML answered this scrape; 0: no driver or no GPU")
    up.add_metric([], 0 if gpus is None else 1)
    out = [up]
    if gpus is None:
        return out
    info = GaugeMetricFamily(
        f"{PREFIX}_info", "the GPU's model and UUID", labels=["gpu", "uuid", "name", "driver"]
    )
    for gpu in gpus:
        info.add_metric([gpu["gpu"], gpu["uuid"], gpu["name"], driver or ""], 1)
    out.append(info)
    for key, name, doc in GAUGES:
        family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["gpu"])
        for gpu in gpus:
            if gpu[key] is not None:
                family.add_metric([gpu["gpu"]], gpu[key])
        out.append(family)
    ecc = CounterMetricFamily(
        f"{PREFIX}_ecc_errors",
        "memory errors since the driver loaded (cards with ECC only)",
        labels=["gpu", "kind"],
    )
    for gpu in gpus:
        for kind, count in gpu["ecc_errors"].items():
            ecc.add_metric([gpu["gpu"], kind], count)
    out.append(ecc)
    xid = CounterMetricFamily(
        f"{PREFIX}_xid_errors", "Xid errors since the exporter started", labels=["gpu", "xid"]
    )
    for (gpu, code), count in sorted(xids.items()):
        xid.add_metric([gpu, str(code)], count)
    out.append(xid)
    return out


class GpuCollector:
    """Reads NVML at each scrape; starts NVML (and the Xid listener) once it first answers."""

    def __init__(self, nvml):
        self.nvml = nvml
        self.ready = False
        self.driver = None
        self.xids: Counter = Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.listener: threading.Thread | None = None

    def start(self) -> bool:
        if not self.ready:
            try:
                self.nvml.nvmlInit()
            except self.nvml.NVMLError:
                return False
            self.ready = True
            self.driver = _text(self.nvml.nvmlSystemGetDriverVersion())
            self.listener = threading.Thread(target=self.listen_for_xids, daemon=True)
            self.listener.start()
        return True

    def collect(self):
        gpus = None
        if self.start():
            try:
                gpus = read(self.nvml)
            except self.nvml.NVMLError:
                gpus = None  # a GPU fell off the bus, or the driver went away
        with self.lock:
            xids = Counter(self.xids)
        yield from families(gpus, self.driver, xids)

    def listen_for_xids(self):
        nvml = self.nvml
        events = nvml.nvmlEventSetCreate()
        for index in range(nvml.nvmlDeviceGetCount()):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
            except nvml.NVMLError:
                pass  # no Xid events from this card; its other readings still come
        while not self.stopping.is_set():
            try:
                event = nvml.nvmlEventSetWait_v2(events, XID_WAIT_MS)
            except nvml.NVMLError_Timeout:
                continue
            except nvml.NVMLError:
                self.stopping.wait(XID_WAIT_MS / 1000)
                continue
            gpu = str(nvml.nvmlDeviceGetMinorNumber(event.device))
            with self.lock:
                self.xids[(gpu, event.eventData)] += 1


def main():
    import pynvml
    from prometheus_client import start_http_server

    REGISTRY.register(GpuCollector(pynvml))  # beside the client's own process_* figures: its cost
    start_http_server(int(os.environ.get("GPU_EXPORTER_PORT", "9400")), os.environ["GPU_EXPORTER_LISTEN"])
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
