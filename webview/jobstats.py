"""How well a finished job used its GPUs, from Prometheus: `gpucluster-jobstats JOBID` on node0, and the
web view's history.

The join: the web view's /metrics publishes gpucluster_slurm_job_gpu{jobid, user, node, gpu} while a
job runs (which GPU Slurm gave it, from slurmrestd's gres_detail and gres.conf), and each node's GPU
exporter publishes gpucluster_gpu_* for the same (node, gpu). Over the job's run, Prometheus
multiplies one by the other: mean and peak utilisation and memory per GPU, and the share of the run
a GPU was under IDLE_BELOW. A job whose GPUs were idle for more than MARK_IDLE_SHARE of its run is
marked. Sampled at the scrape interval: a job shorter than one interval may have no samples.

Standard library only (it runs on the controller's python3, as the web view does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

IDLE_BELOW = 0.10  # utilisation under this counts as idle
MARK_IDLE_SHARE = 0.5  # idle for more than this share of its run: the job is marked
FIGURES = {
    "util_mean": "avg_over_time",
    "util_peak": "max_over_time",
    "mem_mean": "avg_over_time",
    "mem_peak": "max_over_time",
    "idle_share": "avg_over_time",
}
SACCT = ["sacct", "-X", "-n", "-P", "-o", "JobID,User,State,Start,End,NodeList,AllocTRES", "-j"]


class PrometheusError(Exception):
    pass


def query_for(figure: str, job_id: int | str, window_s: int, step_s: int, at: float) -> str:
    """PromQL for one figure of one job: the GPU readings of the (node, gpu) pairs the job held, over
    a window ending at `at`."""
    held = f'gpucluster_slurm_job_gpu{{jobid="{int(job_id)}"}}'
    reading = {
        "util": "gpucluster_gpu_utilization_ratio",
        "mem": "gpucluster_gpu_memory_used_bytes",
        "idle": f"(gpucluster_gpu_utilization_ratio < bool {IDLE_BELOW})",
    }[figure.split("_")[0]]
    return (
        f"{FIGURES[figure]}(({reading} * on(node, gpu) group_left {held})[{window_s}s:{step_s}s] @ {at:.3f})"
    )


class Prometheus:
    def __init__(self, url: str, timeout: float = 10):
        self.url, self.timeout = url.rstrip("/"), timeout

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url}: {exc}") from exc
        if answer.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url}: {answer.get('error', answer)}")
        return answer["data"]["result"]


def efficiency(prometheus: Prometheus, job_id, start: float, end: float, step_s: int) -> list[dict]:
    """Per GPU the job held: node, gpu and each figure (None where there was no sample).

    The window is the job's run exactly: the GPU series are sampled at step_s within it, and a GPU
    reading after the job ended (while the web view still showed it running) is left out."""
    window = max(int(end - start), step_s)
    gpus: dict[tuple[str, str], dict] = {}
    for figure in FIGURES:
        for series in prometheus.query(query_for(figure, job_id, window, step_s, end)):
            key = (series["metric"].get("node", "?"), series["metric"].get("gpu", "?"))
            gpus.setdefault(key, {"node": key[0], "gpu": key[1], **dict.fromkeys(FIGURES)})
            gpus[key][figure] = float(series["value"][1])
    return [gpus[k] for k in sorted(gpus)]


def summary(per_gpu: list[dict]) -> dict | None:
    """The job's figures over all its GPUs (means averaged, peaks the highest), and whether it is marked."""
    if not per_gpu:
        return None

    def values(key):
        return [g[key] for g in per_gpu if g[key] is not None]

    def mean(key):
        return sum(values(key)) / len(values(key)) if values(key) else None

    def peak(key):
        return max(values(key)) if values(key) else None

    idle = mean("idle_share")
    return {
        "gpus": len(per_gpu),
        "util_mean": mean("util_mean"),
        "util_peak": peak("util_peak"),
        "mem_mean": mean("mem_mean"),
        "mem_peak": peak("mem_peak"),
        "idle_share": idle,
        "marked": idle is not None and idle > MARK_IDLE_SHARE,
    }


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _gib(value) -> str:
    return "-" if value is None else f"{value / 2**30:.1f} GiB"


def report(job: dict, per_gpu: list[dict]) -> str:
    """What the command prints for one job."""
    took = int(job["end"] - job["start"])
    hms = f"{took // 3600}:{took % 3600 // 60:02d}:{took % 60:02d}"
    lines = [f"Job {job['id']}: {job['user']}, {job['state']}, {hms} on {job['nodes']}"]
    if not per_gpu:
        lines.append(
            "No GPU readings for this job (no GPU, a run shorter than one scrape, or no metrics then)."
        )
        return "\n".join(lines) + "\n"
    lines.append(f"{'GPU':<14}{'util mean':>10}{'peak':>7}{'idle':>7}{'memory mean':>14}{'peak':>11}")
    for g in per_gpu:
        lines.append(
            f"{g['node'] + ' gpu' + g['gpu']:<14}{_percent(g['util_mean']):>10}{_percent(g['util_peak']):>7}"
            f"{_percent(g['idle_share']):>7}{_gib(g['mem_mean']):>14}{_gib(g['mem_peak']):>11}"
        )
    total = summary(per_gpu)
    if total["marked"]:
        lines.append(
            f"MARKED: its GPUs were under {IDLE_BELOW:.0%} busy for {_percent(total['idle_share'])} of the "
            "run. A GPU held idle is one nobody else can use: check the data loading, or ask for no GPU."
        )
    return "\n".join(lines) + "\n"


def _epoch(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None  # "Unknown", "None": not started or not ended


def sacct_job(job_id: str, run=subprocess.run) -> dict:
    """The job as slurmdbd has it: user, state, start and end (seconds), nodes."""
    done = run([*SACCT, job_id], capture_output=True, text=True, timeout=30)
    rows = [line.split("|") for line in done.stdout.splitlines() if line.strip()]
    if done.returncode or not rows:
        raise LookupError(done.stderr.strip() or f"no job {job_id} in Slurm's accounting")
    jid, user, job_state, start, end, nodes, _tres = rows[0][:7]
    return {
        "id": jid,
        "user": user,
        "state": job_state.split()[0],
        "start": _epoch(start),
        "end": _epoch(end),
        "nodes": nodes,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: gpucluster-jobstats JOBID   (a finished job's GPU use)", file=sys.stderr)
        return 2
    try:
        job = sacct_job(argv[0])
    except (LookupError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"gpucluster-jobstats: {exc}", file=sys.stderr)
        return 1
    if job["start"] is None or job["end"] is None:
        print(f"gpucluster-jobstats: job {job['id']} is {job['state']}: its figures come once it has ended")
        return 1
    prometheus = Prometheus(os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"))
    try:
        per_gpu = efficiency(
            prometheus, job["id"], job["start"], job["end"], int(os.environ.get("SCRAPE_S", "15"))
        )
    except PrometheusError as exc:
        print(f"gpucluster-jobstats: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report(job, per_gpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
