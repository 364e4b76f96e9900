"""The benchmark of bench.py, run through Slurm with the project's own job scripts.

From the controller, as the admin user: an all-reduce sweep across every compute node, DDP steps
on one node and on all of them for each model size and hook, and an array of short independent
jobs. Each job writes its JSON on the node that ran its rank 0; the results are collected from
every node into one folder on the deploying machine, where bench.report reads them.
"""

from __future__ import annotations

import json
import math
import shlex
import time
from pathlib import Path

from pyinfra import logger
from pyinfra.api.exceptions import OperationError

from model.spec import ClusterSpec
from runbooks import remote
from steps.jobs import BENCH_DIR, JOBS_DIR

RUN_ID = time.strftime("%Y%m%d-%H%M%S")  # one per pyinfra run: this module is imported once

# Run on each node: its result files and experiment outputs, as one JSON object {name: text}.
COLLECT = """
import glob, json, os
os.chdir("{run_dir}")
print(json.dumps({{f: open(f).read() for f in glob.glob("*.json") + glob.glob("experiment-*.out")}}))
"""


def _sbatch(spec: ClusterSpec, run_dir: str, args: str, what: str, output: str = "%x-%j.out") -> None:
    """Submit one job and wait for its end (sbatch --wait); a failed job stops the benchmark."""
    head = spec.controller.name
    out = remote.run(
        f"sbatch --wait --parsable -o {run_dir}/{output} {args}", head, timeout=spec.bench.job_timeout_s
    )
    job = out["output"].split(";")[0].strip()
    if out["rc"] != 0:
        log = remote.run(f"sh -c 'tail -c 2000 {run_dir}/*-{job}*.out'", head, timeout=30)["output"]
        raise OperationError(f"benchmark job {job} failed ({what}): {out['output'][-300:]}\n{log}")
    logger.info(f"  {what}: job {job} done")


# Run on the controller: what Prometheus saw the exporters cost over the benchmark (CPU seconds per
# second of one core, peak resident memory), per scrape job and node, as JSON.
METRICS_COST = """
import json, sys, urllib.parse, urllib.request
url, span = sys.argv[1], sys.argv[2]
who = '{{job=~"node|gpu|prometheus"}}'
queries = {{"cpu": f"rate(process_cpu_seconds_total{{who}}[{{span}}s])",
           "memory": f"max_over_time(process_resident_memory_bytes{{who}}[{{span}}s])"}}
out = []
for figure, query in queries.items():
    ask = url + "/api/v1/query?" + urllib.parse.urlencode({{"query": query}})
    for r in json.load(urllib.request.urlopen(ask))["data"]["result"]:
        m = r["metric"]
        out.append({{"figure": figure, "job": m["job"], "node": m["node"], "value": float(r["value"][1])}})
print(json.dumps({{"kind": "metrics_cost", "span_s": int(span), "scrape_s": {scrape_s}, "rows": out}}))
"""


def backend_of(spec: ClusterSpec) -> str:
    """NCCL on the GPUs, Gloo where the cluster has none (the rig)."""
    return "nccl" if spec.nvidia.enabled and spec.gpus_per_node else "gloo"


STARTED: dict[str, float] = {}  # when run() began: the span the exporters' cost is read over


def run(spec: ClusterSpec, run_dir: str, rate_gbit: float | None) -> None:
    """Every part: the all-reduce sweep, the DDP steps and the experiment array; `rate_gbit` is the
    rate the links are held to (None: as wired)."""
    STARTED["run"] = time.time()
    b = spec.bench
    nodes = [n.name for n in spec.compute_nodes]
    backend = backend_of(spec)
    ddp = f"{JOBS_DIR}/ddp.sbatch"
    logger.info(f"Benchmark on {', '.join(nodes)} ({backend}); results in {run_dir} on the nodes")
    _allreduce(spec, run_dir, b.allreduce_min_bytes, rate_gbit, f"allreduce-{backend}-{len(nodes)}.json")
    for params in b.params:
        for count in sorted({1, len(nodes)}):
            for hook in b.hooks if count > 1 else ["none"]:  # 1 node: the baseline
                steps = f"--steps {5 if params >= 150e6 else b.steps} --rounds {b.rounds} --warmup 3"
                steps += f" --min-sample-s {b.min_sample_s:g}"
                _sbatch(
                    spec,
                    run_dir,
                    f"-N {count} -w {','.join(nodes[:count])} {ddp} {BENCH_DIR}/ddp_step.py "
                    f"--params {params:g} --batch {b.batch} --hook {hook} --backend {backend} {steps} "
                    f"--out {run_dir}/ddp-{hook}-{params:g}-{count}.json",
                    f"DDP step, {params:g} parameters, {count} node(s), hook {hook}",
                )
    _sbatch(
        spec,
        run_dir,
        f"--array=0-{b.experiments - 1} --gres=gpu:1 "
        f"{JOBS_DIR}/experiments.sbatch {BENCH_DIR}/experiment.py --seconds {b.experiment_seconds:g}",
        f"{b.experiments} independent {b.experiment_seconds:g} s jobs",
        output="experiment-%A_%a.out",
    )


def rate_check(spec: ClusterSpec, run_dir: str, rate_gbit: float) -> None:
    """The largest messages again, the links held to a lower rate: a time bound by the link grows
    with it, one bound by the hosts' CPUs does not (bench.report pairs the two sweeps)."""
    b = spec.bench
    smallest = max(b.allreduce_min_bytes, b.allreduce_max_bytes // 4)
    name = f"allreduce-{backend_of(spec)}-{len(spec.compute_nodes)}-at-{rate_gbit:g}gbit.json"
    _allreduce(spec, run_dir, smallest, rate_gbit, name)


def _allreduce(spec: ClusterSpec, run_dir: str, smallest: int, rate_gbit: float | None, name: str) -> None:
    b, count = spec.bench, len(spec.compute_nodes)
    sizes = f"--min-bytes {smallest} --max-bytes {b.allreduce_max_bytes} --rounds {b.rounds}"
    sizes += f" --iters {math.ceil(b.allreduce_iters / b.rounds)}" + (
        f" --rate-gbit {rate_gbit:g}" if rate_gbit else ""
    )
    _sbatch(
        spec,
        run_dir,
        f"-N {count} {JOBS_DIR}/ddp.sbatch {BENCH_DIR}/allreduce.py --backend {backend_of(spec)} {sizes} "
        f"--out {run_dir}/{name}",
        f"all-reduce sweep on {count} nodes" + (f", links at {rate_gbit:g} Gbit/s" if rate_gbit else ""),
    )


def collect(spec: ClusterSpec, run_dir: str, results: Path) -> None:
    """Copy the results of every node into `results` on this machine."""
    nodes = [n.name for n in spec.compute_nodes]
    results.mkdir(parents=True, exist_ok=True)
    jobs = []
    for node in nodes:
        files = json.loads(
            remote.run(f"python3 -c {shlex.quote(COLLECT.format(run_dir=run_dir))}", node, timeout=60)[
                "output"
            ]
        )
        for name, text in files.items():
            if name.endswith(".json"):
                (results / name).write_text(text)
            else:  # an experiment's output: its last line is the JSON it printed
                jobs += [
                    json.loads(line) for line in text.splitlines() if line.startswith('{"kind": "experiment"')
                ]
    (results / "jobs.json").write_text(json.dumps(sorted(jobs, key=lambda j: j["start"]), indent=1) + "\n")
    if spec.metrics.enabled:
        url = f"http://{spec.controller.ip}:{spec.metrics.prometheus_port}"
        script = METRICS_COST.format(scrape_s=spec.metrics.scrape_interval_s)
        span = max(int(time.time() - STARTED.get("run", time.time())), 60)
        cost = remote.run(f"python3 -c {shlex.quote(script)} {url} {span}", spec.controller.name, timeout=60)
        if cost["rc"] == 0:
            (results / "metrics-cost.json").write_text(cost["output"].strip() + "\n")
        else:
            logger.warning(f"the exporters' cost could not be read from Prometheus: {cost['output'][-300:]}")
    logger.info(f"Benchmark results copied to {results}")
