"""A short run of the benchmark (bench.py) on the rig, with its results checked for consistency.

The rig has CPUs only, so the runs use Gloo, with the plain all-reduce, the bf16 compression hook
and PowerSGD (as bench/ddp_step.py runs them on Gloo); each node's link is held to 2.5 Gbit/s with
tc tbf while it runs, as on the real cluster.
The figures are printed by the benchmark; this test checks they are complete and self-consistent,
not that they reach the aims, nor which bound the rate check finds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rig import RIG, ROOT

from bench.model import HOOKS, busbw, grad_bytes, link_bytes_per_s

pytestmark = pytest.mark.skipif(RIG.torch is None, reason="no torch wheel for this rig's Python")
SHAPE_GBIT = 2.5
NOISE = 1.10  # a measurement may read up to 10% above the shaped rate (tbf's burst, timer jitter)


@pytest.fixture(scope="module")
def bench(second_deploy, rig, tmp_path_factory, outputs):
    results = tmp_path_factory.mktemp("bench-results")
    group_data = tmp_path_factory.mktemp("bench-short")
    short = {
        "params": [1e6, 4e6],
        "hooks": ["none", "bf16", "powersgd"],
        "steps": 10,
        "min_sample_s": 0.2,
        "batch": 16,
        "allreduce_max_bytes": 16 * 2**20,
        "allreduce_iters": 5,
        "experiments": 9,
        "experiment_seconds": 10,
        "shape_gbit": SHAPE_GBIT,
        "link_gbit": SHAPE_GBIT,
        "results": str(results),
    }
    (group_data / "all.py").write_text(f"bench = {short!r}\n")
    run = rig.deploy("--group-data", str(group_data), deploy_file="bench.py")
    outputs.append(run.output)
    assert run.returncode == 0, run.output[-4000:]
    return {
        "dir": results,
        "output": run.output,
        "summary": json.loads((results / "summary.json").read_text()),
    }


def test_every_part_produced_its_results_and_plots(bench):
    names = sorted(p.name for p in bench["dir"].iterdir())
    assert {"allreduce-gloo-3.json", "allreduce-gloo-3-at-1.25gbit.json"} <= set(names)
    for params in ("1e+06", "4e+06"):
        assert {f"ddp-none-{params}-1.json", f"ddp-none-{params}-3.json"} <= set(names)
        assert {f"ddp-bf16-{params}-3.json", f"ddp-powersgd-{params}-3.json"} <= set(names)
    assert {"jobs.json", "allreduce_busbw.png", "ddp_step_time.png", "model_vs_measured.png"} <= set(names)
    jobs = json.loads((bench["dir"] / "jobs.json").read_text())
    assert len(jobs) == 9 and {j["node"] for j in jobs} == {"node0", "node1", "node2"}
    assert all(9.9 <= j["end"] - j["start"] < 12 for j in jobs)


def test_bus_bandwidth_follows_its_definition_and_never_beats_the_shaped_link(bench):
    sweep = json.loads((bench["dir"] / "allreduce-gloo-3.json").read_text())
    assert sweep["world_size"] == 3 and sorted(sweep["hosts"]) == ["node0", "node1", "node2"]
    sizes = [s["bytes"] for s in sweep["sizes"]]
    assert sizes[0] == 1024 and sizes[-1] == 16 * 2**20 and sizes == sorted(sizes)
    for size in sweep["sizes"]:
        assert size["busbw"] == pytest.approx(busbw(size["bytes"], size["seconds"], 3))
        assert size["busbw"] <= link_bytes_per_s(SHAPE_GBIT) * NOISE, size
        assert len(size["samples"]) == 5 and size["seconds"] == sorted(size["samples"])[2]  # the median


def test_the_largest_all_reduces_ran_again_at_half_the_rate_and_the_report_names_the_bound(bench):
    """At half the rate no all-reduce gets faster; the report gives a fraction of the link only where
    the time grew with the lower rate (link-bound), and otherwise says the hosts bound it."""
    sweep = json.loads((bench["dir"] / "allreduce-gloo-3.json").read_text())
    check = json.loads((bench["dir"] / "allreduce-gloo-3-at-1.25gbit.json").read_text())
    assert (sweep["rate_gbit"], check["rate_gbit"]) == (SHAPE_GBIT, SHAPE_GBIT / 2)
    assert [s["bytes"] for s in check["sizes"]] == [4 * 2**20, 8 * 2**20, 16 * 2**20]
    full = {s["bytes"]: s["seconds"] for s in sweep["sizes"]}
    for size in check["sizes"]:
        assert size["busbw"] <= link_bytes_per_s(SHAPE_GBIT / 2) * NOISE, size
        assert size["seconds"] > full[size["bytes"]] / NOISE, size
    (row,) = bench["summary"]["allreduce"]
    figures = bench["summary"]["figures"]
    assert 0 <= row["link_share"] <= 1 and figures["bound_gloo"] == row["bound"]
    if row["bound"] == "link":
        assert 0 < figures["link_fraction_gloo"] <= NOISE
    else:
        assert "link_fraction_gloo" not in figures
        assert "bound by the hosts (CPUs), not the link" in bench["output"]


def test_ddp_runs_on_one_and_three_nodes_and_the_report_has_the_three_figures(bench):
    for count in (1, 3):
        run = json.loads((bench["dir"] / f"ddp-none-4e+06-{count}.json").read_text())
        assert run["world_size"] == count and run["step_s"] > 0 and run["compute_s"] > 0
        for time in ("step_s", "compute_s"):  # the medians of five rounds taken in turns
            assert len(run["samples"][time]) == 5 and run[time] == sorted(run["samples"][time])[2]
        assert run["grad_bytes"] == pytest.approx(4 * run["params"], rel=0.01)
    summary = bench["summary"]
    assert set(summary["model"]) == {"gloo/none", "gloo/bf16", "gloo/powersgd"}
    assert len([r for r in summary["ddp"] if "error" in r]) == 6
    figures = summary["figures"]
    assert set(figures) >= {"bound_gloo", "utilisation"}
    steady = [r for r in summary["ddp"] if "wide" not in r]
    assert ("model_error_max" in figures) == bool(steady)  # a point whose repeats disagree is no figure
    assert 0 < figures["utilisation"] <= 1
    for line in ("busbw at 16777216 B, gloo", "model error", "slot utilisation"):
        assert line in bench["output"]


def test_the_links_are_released_afterwards(bench, rig):
    for node in ("node0", "node1", "node2"):
        assert "tbf" not in rig.run(node, "tc qdisc show").stdout


def test_the_hooks_send_what_they_should_and_bf16_halves_the_exposed_all_reduce(bench):
    """At 4 M parameters (16 MB of fp32 gradients, ~70 ms on the shaped link) bf16 must be faster."""
    runs = {h: json.loads((bench["dir"] / f"ddp-{h}-4e+06-3.json").read_text()) for h in HOOKS}
    for hook, run in runs.items():
        assert run["hook"] == hook and run["world_size"] == 3 and run["backend"] == "gloo"
        assert run["grad_bytes"] == pytest.approx(grad_bytes(run["params"], hook, 4, run["width"]))
        assert run["compute_s"] > 0 and (run["hook_s"] > 0) == (hook != "none")
    assert runs["bf16"]["grad_bytes"] == runs["none"]["grad_bytes"] / 2
    assert runs["powersgd"]["grad_bytes"] < runs["none"]["grad_bytes"] / 50
    assert runs["bf16"]["step_s"] < runs["none"]["step_s"]


def test_the_decision_agrees_with_what_was_measured(bench):
    """The rig's measured 4 M model ran slower on 3 nodes than on one; --decide, calibrated on these
    results, must say so from its 1-node step alone, and choose DDP for a step 100 times longer."""
    one = json.loads((bench["dir"] / "ddp-none-4e+06-1.json").read_text())
    three = json.loads((bench["dir"] / "ddp-none-4e+06-3.json").read_text())
    assert three["samples_per_s"] < one["samples_per_s"]

    def decide(step_ms: float) -> str:
        argv = [sys.executable, "-m", "bench.report", str(bench["dir"]), "--decide"]
        argv += ["--params", str(one["params"]), "--step-ms", str(step_ms), "--batch", str(one["batch"])]
        run = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
        return run.stdout

    assert "train on one node" in decide(one["step_s"] * 1e3)
    assert "use 3-node DDP" in decide(one["step_s"] * 1e5)
