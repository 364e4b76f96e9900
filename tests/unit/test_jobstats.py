"""Per-job GPU use: which GPUs Slurm gave a job (the web view's join of slurmrestd's gres_detail with
gres.conf) and what Prometheus says they did (webview/jobstats.py), on a stand-in Prometheus that
answers each figure's query."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from operations.render import render
from webview import app, jobstats


@pytest.mark.parametrize(
    ("ranges", "names"),
    [
        ("node[0-2]", ["node0", "node1", "node2"]),
        ("node[0,2],gpu5", ["node0", "node2", "gpu5"]),
        ("a[08-10]", ["a08", "a09", "a10"]),
        ("node1", ["node1"]),
        ("0-1,3", ["0", "1", "3"]),
        ("", []),
    ],
)
def test_slurm_ranges_expand(ranges, names):
    assert app.expand(ranges) == names


def test_gres_conf_gives_each_nodes_gpu_minors_in_slurms_index_order():
    spec = SimpleNamespace(gpu_type="rtx5090")
    nodes = [
        SimpleNamespace(name="node0", gpus=1, gpu_files="/dev/nvidia0"),
        SimpleNamespace(name="node1", gpus=2, gpu_files="/dev/nvidia[1-2]"),
        SimpleNamespace(name="login", gpus=0, gpu_files=""),
    ]
    conf = render("gres.conf.j2", spec=spec, nodes=nodes)
    assert app.gres_minors(conf) == {"node0": ["0"], "node1": ["1", "2"]}


def test_a_jobs_gpus_are_named_by_node_and_minor():
    minors = {"node0": ["0"], "node1": ["1", "2"], "node2": ["0"]}
    ddp = {"nodes": "node[0-2]", "gres_detail": ["gpu:rtx5090:1(IDX:0)"] * 3}
    assert app.job_gpus(ddp, minors) == [("node0", "0"), ("node1", "1"), ("node2", "0")]
    two = {"nodes": "node1", "gres_detail": ["gpu:rtx5090:2(IDX:0-1)"]}
    assert app.job_gpus(two, minors) == [("node1", "1"), ("node1", "2")]
    assert app.job_gpus({"nodes": "node1", "gres_detail": ["gpu:1(IDX:1)"]}, minors) == [("node1", "2")]
    assert app.job_gpus({"nodes": "node2", "gres_detail": []}, minors) == []  # no GPU


def test_the_query_joins_the_gpu_readings_with_the_jobs_gpus_over_its_run():
    assert jobstats.query_for("util_mean", 42, 630, 15, 1_800_000_015) == (
        "avg_over_time((gpucluster_gpu_utilization_ratio * on(node, gpu) group_left "
        'gpucluster_slurm_job_gpu{jobid="42"})[630s:15s] @ 1800000015.000)'
    )
    assert jobstats.query_for("idle_share", 42, 630, 15, 1_800_000_015).startswith(
        "avg_over_time(((gpucluster_gpu_utilization_ratio < bool 0.1) * on(node, gpu)"
    )
    assert "max_over_time((gpucluster_gpu_memory_used_bytes" in jobstats.query_for("mem_peak", 42, 630, 15, 0)


class FakePrometheus:
    """Answers each figure for the (node, gpu) pairs given, as Prometheus's instant query would."""

    def __init__(self, figures: dict[tuple[str, str], dict], error: str | None = None):
        self.figures, self.error, self.queries = figures, error, []

    def query(self, promql: str) -> list[dict]:
        self.queries.append(promql)
        if self.error:
            raise jobstats.PrometheusError(self.error)
        figure = next(f for f in jobstats.FIGURES if promql == jobstats.query_for(f, *self._args(promql)))
        return [
            {"metric": {"node": node, "gpu": gpu, "job": "gpu"}, "value": [0, str(values[figure])]}
            for (node, gpu), values in self.figures.items()
        ]

    @staticmethod
    def _args(promql):
        jobid = promql.split('jobid="')[1].split('"')[0]
        window, step = promql.split(")[")[1].split("]")[0].rstrip("s").split("s:")
        return jobid, int(window), int(step), float(promql.rsplit("@ ", 1)[1].rstrip(")"))


BUSY = {
    "util_mean": 0.87,
    "util_peak": 0.99,
    "mem_mean": 20 * 2**30,
    "mem_peak": 22 * 2**30,
    "idle_share": 0.05,
}
IDLE = {"util_mean": 0.02, "util_peak": 0.3, "mem_mean": 2**30, "mem_peak": 2**30, "idle_share": 0.9}


def test_a_busy_ddp_job_is_summed_up_over_its_gpus_and_not_marked():
    prometheus = FakePrometheus({("node0", "0"): BUSY, ("node1", "0"): {**BUSY, "util_peak": 0.95}})
    per_gpu = jobstats.efficiency(prometheus, 42, 1_800_000_000, 1_800_000_600, 15)
    assert [(g["node"], g["gpu"], g["util_peak"]) for g in per_gpu] == [
        ("node0", "0", 0.99),
        ("node1", "0", 0.95),
    ]
    assert len(prometheus.queries) == len(jobstats.FIGURES)
    assert "[600s:15s] @ 1800000600.000" in prometheus.queries[0]  # the run, not after it
    total = jobstats.summary(per_gpu)
    assert (total["gpus"], total["util_mean"], total["util_peak"], total["marked"]) == (2, 0.87, 0.99, False)


def test_a_job_that_held_its_gpu_idle_is_marked_in_the_report():
    per_gpu = jobstats.efficiency(FakePrometheus({("node2", "0"): IDLE}), 7, 0, 300, 15)
    assert jobstats.summary(per_gpu)["marked"]
    job = {"id": "7", "user": "ada", "state": "COMPLETED", "start": 0, "end": 300, "nodes": "node2"}
    text = jobstats.report(job, per_gpu)
    assert "Job 7: ada, COMPLETED, 0:05:00 on node2" in text
    assert "node2 gpu0            2%    30%    90%       1.0 GiB    1.0 GiB" in text
    assert "MARKED: its GPUs were under 10% busy for 90% of the run." in text


def test_a_job_without_readings_says_so():
    assert jobstats.summary([]) is None
    job = {"id": "8", "user": "ada", "state": "COMPLETED", "start": 0, "end": 5, "nodes": "node1"}
    assert "No GPU readings for this job" in jobstats.report(job, [])


def test_sacct_gives_the_jobs_run():
    line = "42|ada|COMPLETED|2026-12-07T01:00:00|2026-12-07T01:10:00|node[0-2]|cpu=3,gres/gpu=3,node=3\n"
    calls = []

    def run(argv, **_):
        calls.append(argv)
        return SimpleNamespace(returncode=0, stdout=line, stderr="")

    job = jobstats.sacct_job("42", run)
    assert calls[0][-2:] == ["-j", "42"]
    assert (job["user"], job["state"], job["end"] - job["start"], job["nodes"]) == (
        "ada",
        "COMPLETED",
        600,
        "node[0-2]",
    )
    with pytest.raises(LookupError, match="no job 43"):
        jobstats.sacct_job("43", lambda argv, **_: SimpleNamespace(returncode=0, stdout="", stderr=""))


def history_row(job_id, end, gpus=1):
    return {"id": job_id, "gpus": gpus, "start": end - 600, "end": end, "nodes": "node1"}


def test_the_web_view_asks_for_a_finished_job_once_and_only_once_it_can_have_all_its_readings():
    prometheus = FakePrometheus({("node1", "0"): IDLE})
    use = app.GpuUse(prometheus, step_s=15)
    rows = [history_row(1, 1000), history_row(2, 990, gpus=0)]
    assert use.annotate(rows, now=1020) is None
    assert rows[0]["gpu_use"] is None and prometheus.queries == []  # its last scrape may be to come
    use.annotate(rows, now=1031)
    assert rows[0]["gpu_use"]["marked"] and len(prometheus.queries) == len(jobstats.FIGURES)
    assert app._gpu_use_cells(rows[0])["gpu_util"].startswith("IDLE: under 10% for 90% of its run; 2% (30%)")
    use.annotate(rows, now=2000)
    assert len(prometheus.queries) == len(jobstats.FIGURES)  # a finished job's figures never change
    assert app._gpu_use_cells(rows[1]) == {}  # no GPU, no column


def test_prometheus_not_answering_leaves_the_history_up_with_a_note():
    use = app.GpuUse(FakePrometheus({}, error="Prometheus at http://10.77.0.10:9090: connection refused"), 15)
    rows = [history_row(1, 1000)]
    assert "connection refused" in use.annotate(rows, now=5000)
    assert app._gpu_use_cells(rows[0]) == {"gpu_util": "not yet", "gpu_mem": ""}
