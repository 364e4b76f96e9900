"""The benchmark's arithmetic and decision model (bench.model), and the report on a small results directory.

The results directory is synthetic: all-reduce and DDP times made by the model itself from known
latency, bandwidth, overlap and bandwidth efficiency, so the report must find exactly those back.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from bench import model, report
from bench.model import Calibration, CommModel, DdpPoint

LINK = model.link_bytes_per_s(2.5)  # 312.5e6 bytes/s
COMM = CommModel(latency_s=50e-6, busbw=0.93 * LINK)
SIZES = [2**k for k in range(10, 29)]  # 1 KiB .. 256 MiB


def test_bandwidths_as_nccl_tests_define_them():
    assert model.algbw(1e9, 2.0) == 5e8
    assert model.busbw(1e9, 2.0, 3) == pytest.approx(5e8 * 4 / 3)
    assert model.busbw(1e9, 2.0, 2) == 5e8  # 2(n-1)/n = 1
    assert model.busbw(1e9, 2.0, 8) == pytest.approx(5e8 * 1.75)
    assert model.busbw(1e9, 2.0, 1) == 0.0
    assert LINK == 312.5e6
    assert model.link_fraction(281.25e6, 2.5) == pytest.approx(0.9)


def test_comm_time_uses_the_ring_factor():
    assert COMM.time(3e8, 3) == pytest.approx(50e-6 + 4 / 3 * 3e8 / (0.93 * LINK))
    assert COMM.time(3e8, 3, bw_eff=0.5) == pytest.approx(50e-6 + 8 / 3 * 3e8 / (0.93 * LINK))
    assert COMM.time(3e8, 1) == 0.0


def test_fit_recovers_latency_and_bandwidth():
    fitted = CommModel.fit([(b, COMM.time(b, 3)) for b in SIZES], 3)
    assert fitted.latency_s == pytest.approx(50e-6, rel=1e-6)
    assert fitted.busbw == pytest.approx(0.93 * LINK, rel=1e-6)
    noisy = [(b, COMM.time(b, 3) * (1.02 if i % 2 else 0.98)) for i, b in enumerate(SIZES)]
    fitted = CommModel.fit(noisy, 3)
    assert fitted.latency_s == pytest.approx(50e-6, rel=0.05)
    assert fitted.busbw == pytest.approx(0.93 * LINK, rel=0.05)
    with pytest.raises(ValueError):
        CommModel.fit([(b, 1.0) for b in SIZES], 1)


def test_the_small_messages_pooled_set_the_latency_where_each_alone_is_noise():
    # The rig: 1-16 KiB all-reduces scatter over 1-4 ms (three ranks on two cores), 2 MiB up steady.
    comm = CommModel(latency_s=2e-3, busbw=0.93 * LINK)
    scatter = [0.5, 0.7, 1.0, 1.4, 1.8]
    small = [(b, comm.time(b, 3) * f) for b in SIZES[:5] for f in scatter]
    large = [(b, comm.time(b, 3)) for b in SIZES[11:]]
    fitted = CommModel.fit(large, 3, small)
    assert fitted.latency_s == pytest.approx(2e-3, rel=0.01)
    assert fitted.busbw == pytest.approx(0.93 * LINK, rel=0.01)
    # The large ones alone, each a little slower per byte the larger it is, meet zero below it: held at 0.
    bending = [(b, comm.time(b, 3) * (1 + 0.01 * i) - 2e-3) for i, b in enumerate(SIZES[11:])]
    assert model.weighted_line([(4 / 3 * b, t) for b, t in bending])[0] < 0
    assert CommModel.fit(bending, 3).latency_s == 0.0


def test_a_compute_spread_counts_by_its_share_of_the_step():
    steady = {"compute_s": 0.005, "step_s": 0.025, "spread": {"step_s": 0.05, "compute_s": 0.5}}
    assert not report.wide(steady)  # 50% of 5 ms is 10% of the step
    assert report.wide(steady | {"compute_s": 0.015})  # 50% of 15 ms is 30% of it
    assert report.wide(steady | {"spread": {"step_s": 0.25, "compute_s": 0.0}})


def test_gradient_bytes_per_hook():
    assert model.grad_bytes(100e6, "none") == 400e6
    assert model.grad_bytes(100e6, "bf16") == 200e6
    assert model.grad_bytes(100e6, "powersgd", rank=4, width=1024) == pytest.approx(400e6 * 8 / 1024)
    assert model.grad_bytes(100, "powersgd", rank=4, width=4) == 400  # never more than fp32
    with pytest.raises(ValueError, match="unknown hook"):
        model.grad_bytes(1, "fp16")


def test_step_model_hides_communication_under_the_overlapped_compute():
    comm = CommModel(latency_s=0.0, busbw=1e9)  # 3 ranks: 0.75e9 bytes take 4/3 * 0.75 = 1 s
    cal = Calibration(overlap=0.5, bw_eff=1.0)
    assert model.predict_step(2.0, 0.75e9, 3, comm, cal) == pytest.approx(2.0)  # 1 s hidden in 1 s
    assert model.predict_step(1.0, 0.75e9, 3, comm, cal) == pytest.approx(1.5)  # 0.5 s exposed
    assert model.predict_step(1.0, 0.75e9, 3, comm, Calibration(0.5, 0.5)) == pytest.approx(2.5)
    assert model.predict_step(1.0, 0.75e9, 1, comm, cal) == 1.0
    # t_hook (local work of the hook) adds to the step, and the wire works while it does
    assert model.predict_step(2.0, 0.75e9, 3, comm, cal, hook_s=0.3) == pytest.approx(2.3)
    assert model.predict_step(1.0, 0.75e9, 3, comm, cal, hook_s=0.6) == pytest.approx(1.8)  # 0.8 s hidden


def synthetic_points(cal: Calibration) -> list[DdpPoint]:
    """Exposed communication at varied compute and bytes, so both factors are identifiable."""
    shapes = [(0.05, 40e6), (0.1, 400e6), (0.5, 400e6), (1.0, 2e9), (0.2, 4e6)]
    points = []
    for c, b in shapes:
        hook_s = cal.hook_s_per_param * b / 4
        points.append(DdpPoint(3, c, model.predict_step(c, b, 3, COMM, cal, hook_s), b, b / 4, hook_s))
    return points


def test_calibration_recovers_overlap_efficiency_and_hook_cost():
    truth = Calibration(overlap=0.3, bw_eff=0.8, hook_s_per_param=2e-10)
    points = synthetic_points(truth) + [DdpPoint(1, 0.1, 0.1, 4e6)]
    assert asdict(model.calibrate(points, COMM)) == pytest.approx(asdict(truth))
    with pytest.raises(ValueError, match="multi-rank"):
        model.calibrate([DdpPoint(1, 0.1, 0.1, 4e6)], COMM)


def test_errors_and_utilisation():
    assert model.relative_error(110, 100) == pytest.approx(0.1)
    assert model.error_summary([0.1, -0.2]) == pytest.approx((0.2, 0.15))
    jobs = [(0, 10), (0, 10), (0, 10), (10, 20), (10, 20), (10, 19)]
    assert model.utilisation(jobs, 3) == pytest.approx(59 / 60)
    assert model.utilisation([(0, 10), (20, 30)], 1) == pytest.approx(20 / 30)


CALS = {"none": Calibration(0.5, 1.0), "bf16": Calibration(0.5, 1.0)}


def test_decide_ddp_when_communication_hides():
    d = model.decide(1e6, step_s=1.0, batch=32, comm=COMM, calibrations=CALS)
    assert d.best.startswith("ddp-")
    assert d.speedup == pytest.approx(3.0) and d.efficiency == pytest.approx(1.0)
    assert d.throughput["independent"] == 96.0 and d.throughput["one-node"] == 32.0
    assert d.recommendation.startswith("use 3-node DDP")


def test_decide_one_node_when_ddp_is_slower_than_one_gpu():
    d = model.decide(500e6, step_s=0.05, batch=32, comm=COMM, calibrations=CALS)
    assert d.best == "one-node" and d.hook == "bf16"
    assert d.speedup < 1
    assert d.recommendation.startswith("train on one node")


def test_decide_picks_the_hook_or_independent_runs():
    # 10M params, 0.2 s: fp32 exposes ~0.1 s of all-reduce per step, bf16 hides all but ~2 ms
    d = model.decide(10e6, step_s=0.2, batch=32, comm=COMM, calibrations=CALS)
    assert d.best == "ddp-bf16" and d.efficiency > 0.95
    d = model.decide(10e6, step_s=0.2, batch=32, comm=COMM, calibrations={"none": CALS["none"]})
    assert d.best == "independent" and 1 < d.speedup < 2.4
    assert d.recommendation.startswith("run 3 independent experiments")
    d = model.decide(10e6, 0.2, 32, COMM, {"none": CALS["none"]}, min_efficiency=0.5)
    assert d.best == "ddp-none"


def test_decide_counts_the_hooks_local_work():
    # PowerSGD sends 1/128 of the bytes, but 40 ns of local work per parameter (0.4 s at 10M) loses
    heavy = CALS | {"powersgd": Calibration(0.5, 1.0, hook_s_per_param=40e-9)}
    d = model.decide(10e6, step_s=0.2, batch=32, comm=COMM, calibrations=heavy)
    assert d.hook == "bf16" and d.throughput["ddp-powersgd"] == pytest.approx(3 * 32 / 0.6, rel=0.01)
    light = CALS | {"powersgd": Calibration(0.5, 1.0, hook_s_per_param=0.1e-9)}
    assert model.decide(100e6, 0.2, 32, COMM, light).hook == "powersgd"


def write_results(tmp_path, truth: Calibration) -> None:
    """An NCCL sweep made from COMM, DDP points (1 and 3 ranks, two hooks) made from truth, a jobs array.

    The bf16 hook's local work (hook_s) is truth.hook_s_per_param per parameter.
    """
    sizes = [
        {"bytes": b, "seconds": t, "algbw": model.algbw(b, t), "busbw": model.busbw(b, t, 3)}
        for b, t in ((b, COMM.time(b, 3)) for b in SIZES)
    ]
    hosts = ["node0", "node1", "node2"]
    run = {"kind": "allreduce", "backend": "nccl", "world_size": 3, "hosts": hosts, "iters": 20}
    (tmp_path / "allreduce-nccl.json").write_text(json.dumps(run | {"sizes": sizes}))
    for hook in ("none", "bf16"):
        for params, compute in ((1e6, 0.02), (50e6, 0.1), (350e6, 0.4)):
            nbytes = model.grad_bytes(params, hook)
            hook_s = truth.hook_s_per_param * params if hook == "bf16" else 0.0
            for world in (1, 3):
                step = model.predict_step(compute, nbytes, world, COMM, truth, hook_s)
                run = {"kind": "ddp_step", "backend": "nccl", "world_size": world, "hosts": hosts[:world]}
                run |= {"hook": hook, "params": params, "batch": 32, "step_s": step, "compute_s": compute}
                run |= {"hook_s": hook_s}
                run |= {"samples_per_s": world * 32 / step, "grad_bytes": nbytes}
                (tmp_path / f"ddp-{hook}-{params:g}-{world}.json").write_text(json.dumps(run))
    jobs = [
        {"job": i, "node": hosts[i % 3], "start": 10.0 * (i // 3), "end": 10.0 * (i // 3) + 9.9}
        for i in range(9)
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))


def test_report_on_a_results_directory(tmp_path, capsys):
    truth = Calibration(overlap=0.4, bw_eff=0.9, hook_s_per_param=1e-10)
    write_results(tmp_path, truth)
    summary = report.report(tmp_path, 2.5, tmp_path / "out")

    for name in ("allreduce_busbw.png", "ddp_step_time.png", "model_vs_measured.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    figures = summary["figures"]
    assert figures["link_fraction_nccl"] == pytest.approx(0.93, rel=1e-3)
    assert figures["model_error_max"] < 0.01
    assert figures["utilisation"] == pytest.approx(9 * 9.9 / (3 * 29.9))  # makespan 20 + 9.9 s
    assert summary["model"]["nccl/bf16"] == pytest.approx(
        {"overlap": 0.4, "bw_eff": 0.9, "hook_s_per_param": 1e-10}
    )
    assert summary["model"]["nccl/none"]["hook_s_per_param"] == 0
    assert len(summary["ddp"]) == 6 and all(0 < r["efficiency"] <= 1 for r in summary["ddp"])
    bf16 = next(r for r in summary["ddp"] if r["hook"] == "bf16" and r["params"] == 350e6)
    assert bf16["hook_s"] == pytest.approx(0.035) and bf16["step_1_s"] == 0.4  # against 1 node, no hook
    out = capsys.readouterr().out
    assert "0.93 of the 2.5 Gbit/s link (aim >= 0.9: met); the bound was not checked" in out
    assert "(aim within 15%: met)" in out and "slot utilisation: 99.3%" in out

    report.main([str(tmp_path), "--decide", "--params", "350e6", "--step-ms", "180", "--batch", "32"])
    assert "train on one node" in capsys.readouterr().out


def test_jobs_csv_and_missing_parts(tmp_path):
    (tmp_path / "jobs.csv").write_text("job,node,start,end\n1,node0,0,10\n2,node1,0,10\n3,node0,10,15\n")
    summary = report.report(tmp_path, 2.5, tmp_path)
    assert summary["jobs"]["utilisation"] == pytest.approx(25 / (2 * 15))
    assert summary["allreduce"] == [] and summary["ddp"] == [] and summary["plots"] == []
    with pytest.raises(SystemExit, match="to calibrate from"):
        report.main([str(tmp_path), "--decide", "--params", "1e6", "--step-ms", "10", "--batch", "8"])


def test_the_metrics_cost_is_printed_per_exporter_and_node(capsys):
    cost = {
        "kind": "metrics_cost",
        "span_s": 240,
        "scrape_s": 5,
        "rows": [
            {"figure": "cpu", "job": "node", "node": "node1", "value": 0.0042},
            {"figure": "memory", "job": "node", "node": "node1", "value": 18 * 2**20},
            {"figure": "cpu", "job": "gpu", "node": "node1", "value": 0.0021},
        ],
    }
    rows = report.metrics_cost_section(cost)
    assert rows == [
        {"job": "gpu", "node": "node1", "cpu": 0.0021},
        {"job": "node", "node": "node1", "cpu": 0.0042, "memory": 18 * 2**20},
    ]
    out = capsys.readouterr().out
    assert "metrics while it ran (240 s, a scrape every 5 s)" in out
    assert "  gpu         node1                 0.21             -" in out
    assert "  node        node1                 0.42            18" in out


def test_repeats_give_a_median_and_their_spread():
    assert model.median_spread([0.9, 1.0, 1.3]) == pytest.approx((1.0, 0.4))
    assert model.median_spread([1.0, 2.0, 4.0, 3.0]) == pytest.approx((2.5, 1.2))
    assert model.link_share(1.0, 2.0, 2.0) == 1.0  # all of it doubled at half the rate
    assert model.link_share(1.0, 1.3, 2.0) == pytest.approx(0.3)
    assert model.link_share(1.0, 0.97, 2.0) == 0.0  # noise below: none of it


def sweep(tmp_path, name: str, sizes: list[int], rate_gbit: float, seconds) -> None:
    rows = [
        {"bytes": b, "seconds": seconds(b), "spread": 0.05, "algbw": model.algbw(b, seconds(b))}
        | {"busbw": model.busbw(b, seconds(b), 3)}
        for b in sizes
    ]
    run = {"kind": "allreduce", "backend": "gloo", "world_size": 3, "hosts": ["node0", "node1", "node2"]}
    (tmp_path / name).write_text(json.dumps(run | {"rate_gbit": rate_gbit, "sizes": rows}))


@pytest.mark.parametrize(
    ("slower", "bound"),
    [
        (lambda b: COMM.latency_s + 2 * (COMM.time(b, 3) - COMM.latency_s), "link"),  # link time doubles
        (lambda b: 1.2 * COMM.time(b, 3), "hosts"),  # only a fifth more: the CPUs bound it
    ],
)
def test_the_rate_check_tells_a_link_bound_sweep_from_a_host_bound_one(tmp_path, capsys, slower, bound):
    sweep(tmp_path, "allreduce-gloo-3.json", SIZES, 2.5, lambda b: COMM.time(b, 3))
    sweep(tmp_path, "allreduce-gloo-3-at-1.25gbit.json", SIZES[-3:], 1.25, slower)
    summary = report.report(tmp_path, 2.5, tmp_path)
    (row,) = summary["allreduce"]
    assert row["bound"] == bound and summary["figures"]["bound_gloo"] == bound
    out = capsys.readouterr().out
    assert "rate check: the largest sizes again at 1.25 Gbit/s" in out
    if bound == "link":
        assert row["link_share"] > 0.99 and summary["figures"]["link_fraction_gloo"] == pytest.approx(
            0.93, rel=1e-3
        )
        assert "0.93 of the 2.5 Gbit/s link (aim >= 0.9: met)" in out
    else:
        assert row["link_share"] == pytest.approx(0.2) and "link_fraction_gloo" not in summary["figures"]
        assert "(20% of its time scales with the link rate): bound by the hosts (CPUs), not the link" in out
    assert row["fit"]["busbw"] == pytest.approx(0.93 * LINK, rel=1e-6)  # the rate check is not fitted


def test_points_whose_repeats_disagree_are_left_out_of_the_fit_and_the_calibration(tmp_path, capsys):
    truth = Calibration(overlap=0.4, bw_eff=0.9, hook_s_per_param=1e-10)
    write_results(tmp_path, truth)
    path = tmp_path / "allreduce-nccl.json"
    run = json.loads(path.read_text())
    for row in run["sizes"]:
        row["spread"] = 0.05
    run["sizes"][-1] |= {"seconds": run["sizes"][-1]["seconds"] * 3, "spread": 0.6}  # a slow minute
    path.write_text(json.dumps(run))
    noisy = tmp_path / "ddp-none-5e+07-3.json"
    point = json.loads(noisy.read_text())
    noisy.write_text(
        json.dumps(point | {"step_s": point["step_s"] * 2, "spread": {"step_s": 0.5, "compute_s": 0.02}})
    )
    summary = report.report(tmp_path, 2.5, tmp_path / "out")
    assert summary["allreduce"][0]["fit"]["left_out"] == [SIZES[-1]]
    assert summary["allreduce"][0]["fit"]["busbw"] == pytest.approx(0.93 * LINK, rel=1e-6)
    assert summary["model"]["nccl/none"] == pytest.approx(
        {"overlap": 0.4, "bw_eff": 0.9, "hook_s_per_param": 0}
    )
    (wide,) = [r for r in summary["ddp"] if "wide" in r]
    assert (wide["hook"], wide["params"]) == ("none", 50e6)
    assert summary["figures"]["model_error_max"] < 0.01  # the wide point's own error is not a figure
    out = capsys.readouterr().out
    assert "wide (step_s 50%, compute_s 2%, 0% of the step): left out" in out
    assert (
        f"(left out, spread over 20%: {SIZES[-1]} B)" in out
        and "; 1 left out, their samples spread over 20%" in out
    )
