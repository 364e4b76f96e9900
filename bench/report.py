"""Tables, figures, plots and a summary of a directory of benchmark results; the decision CLI.

    python -m bench.report RESULTS_DIR --link-gbit 2.5 [--out DIR] [--slots N]
    python -m bench.report RESULTS_DIR --decide --params 350e6 --step-ms 180 --batch 32

RESULTS_DIR holds the JSON files of bench.allreduce ("kind": "allreduce") and bench.ddp_step
("kind": "ddp_step"), named as you like, and the experiment array's jobs as jobs.json, a list of
{"job": id, "node": name, "start": epoch_s, "end": epoch_s}, or jobs.csv with the header
job,node,start,end. Each part is reported when its files are there. Plots (PNG) and summary.json
go to --out (default RESULTS_DIR).

Every time is the median of repeated samples (bench.allreduce, bench.ddp_step); a point whose
samples spread over more than WIDE of their median is marked and left out of the fit or the
calibration (a DDP compute time's spread counted by its share of the step; the all-reduce sizes
up to LATENCY_BYTES pooled for the latency instead). A sweep of the same ranks with fewer sizes at
a lower link rate (rate_gbit) is the rate check of the larger sweep: a time that grows with the
lower rate was the link's, one that does not was the hosts' (their CPUs), and a fraction of the
link is given only for the link's.

The communication model of each backend is fitted to its all-reduce sweep on the most ranks; the
step-time model of each backend and hook is calibrated on its multi-rank DDP points. Its error at
each point is measured with a calibration on the other points (leave one out), in-sample only
where a point is alone.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from bench.model import (
    LATENCY_BYTES,
    LINK_BOUND,
    WIDE,
    Calibration,
    CommModel,
    DdpPoint,
    busbw,
    calibrate,
    decide,
    error_summary,
    link_bytes_per_s,
    link_fraction,
    link_share,
    predict_step,
    relative_error,
    utilisation,
)

AIMS = {"link_fraction": 0.9, "model_error": 0.15, "utilisation": 0.95}


def load(results: Path) -> dict[str, list[dict]]:
    """The results by kind: "allreduce" (sweeps), "rate_check" (their rate checks), "ddp_step", "jobs"."""
    found: dict[str, list[dict]] = {"allreduce": [], "rate_check": [], "ddp_step": [], "jobs": []}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        if path.name == "jobs.json":
            found["jobs"] = data
        elif isinstance(data, dict) and data.get("kind") in found:
            found[data["kind"]].append(data)
    if (results / "jobs.csv").exists():
        with open(results / "jobs.csv", newline="") as f:
            found["jobs"] = [
                {**r, "start": float(r["start"]), "end": float(r["end"])} for r in csv.DictReader(f)
            ]
    sweeps = found["allreduce"]
    found["rate_check"] = [r for r in sweeps if any(_checks(r, other) for other in sweeps)]
    found["allreduce"] = [r for r in sweeps if r not in found["rate_check"]]
    return found


def _checks(check: dict, sweep: dict) -> bool:
    """Whether `check` is the rate check of `sweep`: the same ranks, fewer sizes, a lower rate."""
    same = (check["backend"], check["world_size"]) == (sweep["backend"], sweep["world_size"])
    return same and len(check["sizes"]) < len(sweep["sizes"]) and check.get("rate_gbit") is not None


def _steady(sizes: list[dict]) -> list[dict]:
    """The sizes whose samples agree (spread within WIDE; results without samples count as steady)."""
    return [s for s in sizes if s.get("spread", 0.0) <= WIDE]


def fit_inputs(sizes: list[dict]) -> tuple[list[tuple[float, float]], list[tuple[float, float]], list[int]]:
    """What a sweep's fit rests on: every sample of the sizes up to LATENCY_BYTES (the latency, pooled:
    wide or not), the steady larger sizes' medians (the bandwidth; all of them where fewer than two
    are steady) and the larger sizes left out as wide."""
    small = [
        (s["bytes"], t)
        for s in sizes
        if s["bytes"] <= LATENCY_BYTES
        for t in s.get("samples", [s["seconds"]])
    ]
    large = [s for s in sizes if s["bytes"] > LATENCY_BYTES]
    steady = _steady(large) if len(_steady(large)) >= 2 else large
    left_out = [s["bytes"] for s in large if s not in steady]
    return small, [(s["bytes"], s["seconds"]) for s in steady], left_out


def comm_models(runs: list[dict]) -> dict[str, CommModel]:
    """Per backend, the model fitted to the sweep with the most ranks (two or more)."""
    widest: dict[str, dict] = {}
    for run in runs:
        if run["world_size"] > 1 and run["world_size"] > widest.get(run["backend"], {}).get("world_size", 1):
            widest[run["backend"]] = run
    fitted = {}
    for b, r in widest.items():
        small, points, _ = fit_inputs(r["sizes"])
        fitted[b] = CommModel.fit(points, r["world_size"], small)
    return fitted


def point(run: dict) -> DdpPoint:
    """A run as a model point (t_hook 0 for results older than hook_s)."""
    return DdpPoint(
        run["world_size"],
        run["compute_s"],
        run["step_s"],
        run["grad_bytes"],
        run["params"],
        run.get("hook_s", 0.0),
    )


def calibrations(runs: list[dict], comms: dict[str, CommModel]) -> dict[tuple[str, str], Calibration]:
    """Per (backend, hook) with multi-rank points and an all-reduce fit, the factors calibrated on its
    usable points."""
    return {
        key: calibrate([point(r) for r in group], comms[key[0]]) for key, group in usable(runs, comms).items()
    }


def usable(runs: list[dict], comms: dict[str, CommModel]) -> dict[tuple[str, str], list[dict]]:
    """Per (backend, hook) with an all-reduce fit, the multi-rank points the model rests on: the steady
    ones, or all of them where every one is wide."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in runs:
        if run["world_size"] > 1 and run["backend"] in comms:
            groups[run["backend"], run["hook"]].append(run)
    return {key: [r for r in group if not wide(r)] or group for key, group in groups.items()}


def wide(run: dict) -> bool:
    """Whether a DDP point is too uncertain for the model: its step's samples spread over more than
    WIDE of the step, or its compute's do (the compute is part of the predicted step: its spread
    counts by its share of the step, so a few ms of a 25 ms step do not reject the point)."""
    spread = run.get("spread", {})
    compute = spread.get("compute_s", 0.0) * run["compute_s"] / run["step_s"]
    return spread.get("step_s", 0.0) > WIDE or compute > WIDE


def allreduce_section(
    runs: list[dict], comms: dict[str, CommModel], link_gbit: float, checks: list[dict] = ()
) -> list[dict]:
    """Each sweep's sizes; where a rate check has the size, the share of its time that scales with
    the link, and the fraction of the link only where that share is LINK_BOUND or more."""
    rows = []
    for run in sorted(runs, key=lambda r: (r["backend"], r["world_size"])):
        n, rate = run["world_size"], run.get("rate_gbit") or link_gbit
        check = next((c for c in checks if _checks(c, run)), None)
        slower = {s["bytes"]: s["seconds"] for s in check["sizes"]} if check else {}
        at = f"links held to {rate:g} Gbit/s" if run.get("rate_gbit") else f"link {link_gbit} Gbit/s"
        print(f"\nall-reduce, {run['backend']}, {n} ranks ({', '.join(run['hosts'])}), {at}")
        if check:
            print(f"rate check: the largest sizes again at {check['rate_gbit']:g} Gbit/s")
        print(
            f"{'bytes':>12} {'time us':>10} {'spread':>6} {'algbw GB/s':>11} {'busbw GB/s':>11}"
            f" {'on link':>7} {'of link':>8}"
        )
        bounds = {}
        for s in run["sizes"]:
            share = None
            if s["bytes"] in slower:
                share = link_share(s["seconds"], slower[s["bytes"]], rate / check["rate_gbit"])
                bounds[s["bytes"]] = share
            frac = link_fraction(s["busbw"], rate)
            link_bound = share >= LINK_BOUND if share is not None else check is None  # unchecked: as before
            shown = f"{frac:>8.2f}" if link_bound else f"{'-':>8}"
            cells = [
                f"{s['bytes']:>12} {s['seconds'] * 1e6:>10.1f} {s.get('spread', 0):>6.0%}",
                f"{s['algbw'] / 1e9:>11.3f} {s['busbw'] / 1e9:>11.3f}",
                f"{'-' if share is None else f'{share:.0%}':>7} {shown}",
                "wide: left out of the fit"
                if s.get("spread", 0) > WIDE and s["bytes"] > LATENCY_BYTES
                else "",
            ]
            print(" ".join(cells).rstrip())
        largest = run["sizes"][-1]
        row = {"backend": run["backend"], "world_size": n, "largest_bytes": largest["bytes"]}
        row |= {"busbw": largest["busbw"], "rate_gbit": rate, "spread": largest.get("spread")}
        if largest["bytes"] in bounds:
            row["link_share"] = bounds[largest["bytes"]]
            row["bound"] = "link" if row["link_share"] >= LINK_BOUND else "hosts"
        if row.get("bound") != "hosts":
            row["link_fraction"] = link_fraction(largest["busbw"], rate)
        comm = comms.get(run["backend"])
        if comm and n > 1:
            small, _, left_out = fit_inputs(run["sizes"])
            print(
                f"fit: latency {comm.latency_s * 1e6:.1f} us, busbw {comm.busbw / 1e9:.3f} GB/s"
                + (
                    f"; latency from the {len(small)} samples up to {LATENCY_BYTES} B, pooled"
                    if small
                    else ""
                )
                + (
                    f" (left out, spread over {WIDE:.0%}: {', '.join(map(str, left_out))} B)"
                    if left_out
                    else ""
                )
            )
            row["fit"] = {"latency_s": comm.latency_s, "busbw": comm.busbw, "left_out": left_out}
        rows.append(row)
    return rows


def ddp_section(runs: list[dict], comms: dict[str, CommModel], cals: dict) -> list[dict]:
    """Each multi-rank point against the one-rank plain point (no hook) of the same backend, size, batch."""
    single = {
        (r["backend"], r["params"], r["batch"]): r
        for r in runs
        if r["world_size"] == 1 and r["hook"] == "none"
    }
    rows, groups = [], usable(runs, comms)
    print("\nDDP scaling: n-node steps against 1 node without a hook (same backend, params, batch per GPU)")
    print(
        f"{'backend':>7} {'hook':>8} {'params':>11} {'batch':>5} {'n':>2} {'compute ms':>10} {'hook ms':>7}"
        f" {'step ms':>9} {'samples/s':>10} {'1-node ms':>9} {'speedup':>7} {'eff':>5} {'model ms':>9}"
        f" {'error':>6}"
    )
    for r in sorted(runs, key=lambda r: (r["backend"], r["hook"], r["params"], r["world_size"])):
        if r["world_size"] == 1:
            continue
        row = {k: r[k] for k in ("backend", "hook", "params", "batch", "world_size", "compute_s", "step_s")}
        p = point(r)
        row |= {"samples_per_s": r["samples_per_s"], "hook_s": p.hook_s}
        one = single.get((r["backend"], r["params"], r["batch"]))
        if one:
            row |= {"step_1_s": one["step_s"], "speedup": r["samples_per_s"] / one["samples_per_s"]}
            row["efficiency"] = row["speedup"] / r["world_size"]
        cal = cals.get((r["backend"], r["hook"]))
        others = [point(o) for o in groups.get((r["backend"], r["hook"]), []) if o is not r]
        if cal and others:  # predict each point from a calibration on the others: an honest error
            cal = calibrate(others, comms[r["backend"]])
            row["held_out"] = True
        if cal:
            row["predicted_s"] = predict_step(
                p.compute_s, p.grad_bytes, p.world, comms[r["backend"]], cal, p.hook_s
            )
            row["error"] = relative_error(row["predicted_s"], r["step_s"])
        if wide(r):
            row["wide"] = r["spread"]
        rows.append(row)
        cells = [
            f"{r['backend']:>7} {r['hook']:>8} {r['params']:>11} {r['batch']:>5} {r['world_size']:>2}",
            f"{r['compute_s'] * 1e3:>10.2f} {row['hook_s'] * 1e3:>7.2f} {r['step_s'] * 1e3:>9.2f}",
            f"{r['samples_per_s']:>10.1f}",
            f"{one['step_s'] * 1e3:>9.2f} {row['speedup']:>7.2f} {row['efficiency']:>5.2f}"
            if one
            else f"{'-':>9} {'-':>7} {'-':>5}",
            f"{row['predicted_s'] * 1e3:>9.2f} {row['error']:>+6.1%}" if cal else f"{'-':>9} {'-':>6}",
            f"wide (step_s {r['spread']['step_s']:.0%}, compute_s {r['spread']['compute_s']:.0%},"
            f" {r['spread']['compute_s'] * r['compute_s'] / r['step_s']:.0%} of the step): left out"
            if wide(r)
            else "",
        ]
        print(" ".join(cells).rstrip())
    for (backend, hook), cal in sorted(cals.items()):
        print(
            f"model {backend}/{hook}: overlap {cal.overlap:.2f} of the compute and hook,"
            f" bw_eff {cal.bw_eff:.2f}, t_hook {cal.hook_s_per_param * 1e9:.2f} ns per parameter"
        )
    return rows


def jobs_section(jobs: list[dict], slots: int | None) -> dict:
    slots = slots or len({j["node"] for j in jobs})
    spans = [(j["start"], j["end"]) for j in jobs]
    makespan = max(e for _, e in spans) - min(s for s, _ in spans)
    busy = sum(e - s for s, e in spans)
    row = {"jobs": len(jobs), "slots": slots, "busy_s": busy, "makespan_s": makespan}
    row |= {"ideal_s": busy / slots, "mean_job_s": busy / len(jobs), "utilisation": utilisation(spans, slots)}
    print(
        f"\nexperiment array: {len(jobs)} jobs (mean {row['mean_job_s']:.1f} s) on {slots} slots, makespan "
        f"{makespan:.1f} s, ideal {row['ideal_s']:.1f} s"
    )
    return row


def metrics_cost_section(cost: dict) -> list[dict]:
    """What the metrics cost while the benchmark ran: each exporter's CPU (share of one core) and its
    peak resident memory, per node, as Prometheus saw them."""
    rows: dict[tuple[str, str], dict] = {}
    for r in cost["rows"]:
        rows.setdefault((r["job"], r["node"]), {"job": r["job"], "node": r["node"]})[r["figure"]] = r["value"]
    print(f"\nmetrics while it ran ({cost['span_s']} s, a scrape every {cost['scrape_s']} s)")
    print(f"  {'exporter':<12}{'node':<8}{'CPU, % of a core':>18}{'memory, MiB':>14}")
    for row in sorted(rows.values(), key=lambda r: (r["job"], r["node"])):
        cpu, memory = row.get("cpu"), row.get("memory")
        print(
            f"  {row['job']:<12}{row['node']:<8}{'-' if cpu is None else f'{100 * cpu:.2f}':>18}"
            f"{'-' if memory is None else f'{memory / 2**20:.0f}':>14}"
        )
    return sorted(rows.values(), key=lambda r: (r["job"], r["node"]))


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def figures(summary: dict) -> dict:
    """The issue's three figures against their aims, printed and returned."""
    out = {}
    print("\nfigures")
    for row in summary["allreduce"]:
        if row["world_size"] < 2:
            continue
        where = f"  busbw at {row['largest_bytes']} B, {row['backend']}"
        if "bound" in row:
            out[f"bound_{row['backend']}"] = row["bound"]
            where += f" ({row['link_share']:.0%} of its time scales with the link rate)"
        if "link_fraction" in row:
            out[f"link_fraction_{row['backend']}"] = row["link_fraction"]
            aim = verdict(row["link_fraction"] >= AIMS["link_fraction"])
            print(
                f"{where}: {row['link_fraction']:.2f} of the {row['rate_gbit']:g} Gbit/s link"
                f" (aim >= {AIMS['link_fraction']}: {aim})"
                + ("" if "bound" in row else "; the bound was not checked")
            )
        else:
            print(f"{where}: bound by the hosts (CPUs), not the link; no fraction of the link is given")
    errors = [r["error"] for r in summary["ddp"] if "error" in r and "wide" not in r]
    left_out = sum(1 for r in summary["ddp"] if "wide" in r)
    if left_out and not errors:
        print(f"  model error: every multi-node step's samples spread over {WIDE:.0%}: no figure")
    if errors:
        worst, mean = error_summary(errors)
        out |= {"model_error_max": worst, "model_error_mean": mean}
        aim = verdict(worst <= AIMS["model_error"])
        held = sum(1 for r in summary["ddp"] if r.get("held_out") and "wide" not in r)
        print(
            f"  model error on {len(errors)} multi-node step times ({held} predicted from a calibration on "
            f"the others): max {worst:.1%}, mean {mean:.1%} (aim within {AIMS['model_error']:.0%}: {aim})"
            + (f"; {left_out} left out, their samples spread over {WIDE:.0%}" if left_out else "")
        )
    if summary["jobs"]:
        u = summary["jobs"]["utilisation"]
        out["utilisation"] = u
        aim = verdict(u >= AIMS["utilisation"])
        print(f"  slot utilisation: {u:.1%} (aim >= {AIMS['utilisation']:.0%} for 10 s jobs: {aim})")
    return out


def plot(found: dict, summary: dict, comms: dict[str, CommModel], link_gbit: float, out: Path) -> list[Path]:
    """allreduce_busbw.png, ddp_step_time.png, model_vs_measured.png, each when it has data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(out / name)

    multi = [r for r in found["allreduce"] if r["world_size"] > 1]
    if multi:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in multi:
            sizes = [s["bytes"] for s in r["sizes"]]
            ax.plot(
                sizes,
                [s["busbw"] / 1e9 for s in r["sizes"]],
                "o-",
                label=f"{r['backend']}, {r['world_size']} ranks",
            )
            comm = comms[r["backend"]]
            model = [busbw(b, comm.time(b, r["world_size"]), r["world_size"]) / 1e9 for b in sizes]
            ax.plot(sizes, model, "--", color=ax.lines[-1].get_color(), label=f"{r['backend']} fit")
        ax.axhline(link_bytes_per_s(link_gbit) / 1e9, color="k", ls=":", label=f"link {link_gbit} Gbit/s")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="message bytes",
            ylabel="busbw GB/s",
            title="all-reduce bus bandwidth",
        )
        ax.legend()
        save(fig, "allreduce_busbw.png")

    if found["ddp_step"]:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        series: dict[tuple, list] = defaultdict(list)
        for r in found["ddp_step"]:
            series[r["backend"], r["hook"], r["world_size"]].append((r["params"], r["step_s"] * 1e3))
        for (backend, hook, n), pts in sorted(series.items()):
            pts.sort()
            ax.plot(
                *zip(*pts, strict=True),
                "o-" if n == 1 else "s--",
                label=f"{backend}/{hook}, {n} node{'s' if n > 1 else ''}",
            )
        ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="step ms", title="DDP step time")
        ax.legend()
        save(fig, "ddp_step_time.png")

    predicted = [
        (r["step_s"] * 1e3, r["predicted_s"] * 1e3, r["hook"]) for r in summary["ddp"] if "predicted_s" in r
    ]
    if predicted:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        for hook in sorted({h for *_, h in predicted}):
            ax.plot(
                [m for m, _, h in predicted if h == hook],
                [p for _, p, h in predicted if h == hook],
                "o",
                label=hook,
            )
        top = max(max(m, p) for m, p, _ in predicted) * 1.1
        bottom = min(min(m, p) for m, p, _ in predicted) / 1.1
        for f, style in ((1, "k-"), (1 + AIMS["model_error"], "k:"), (1 - AIMS["model_error"], "k:")):
            ax.plot([bottom, top], [bottom * f, top * f], style)
        ax.set(xscale="log", yscale="log", xlabel="measured step ms", ylabel="model step ms")
        ax.set_title("step-time model vs measured (dotted: ±15%)")
        ax.legend()
        save(fig, "model_vs_measured.png")
    return written


def report(results: Path, link_gbit: float, out: Path, slots: int | None = None) -> dict:
    """Print everything, write the plots and summary.json; returns the summary."""
    found = load(results)
    comms = comm_models(found["allreduce"])
    cals = calibrations(found["ddp_step"], comms)
    summary: dict = {"link_gbit": link_gbit}
    summary["allreduce"] = allreduce_section(found["allreduce"], comms, link_gbit, found["rate_check"])
    summary["ddp"] = ddp_section(found["ddp_step"], comms, cals) if found["ddp_step"] else []
    summary["model"] = {f"{b}/{h}": asdict(c) for (b, h), c in cals.items()}
    summary["jobs"] = jobs_section(found["jobs"], slots) if found["jobs"] else {}
    summary["figures"] = figures(summary)
    if (results / "metrics-cost.json").exists():
        summary["metrics_cost"] = metrics_cost_section(
            json.loads((results / "metrics-cost.json").read_text())
        )
    out.mkdir(parents=True, exist_ok=True)
    summary["plots"] = [p.name for p in plot(found, summary, comms, link_gbit, out)]
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nwrote {', '.join(summary['plots'] + ['summary.json'])} to {out}")
    return summary


def ask(results: Path, args: argparse.Namespace) -> None:
    """Print the decision for one model, from the calibration on RESULTS_DIR."""
    found = load(results)
    comms = comm_models(found["allreduce"])
    backend = args.backend or ("nccl" if "nccl" in comms else next(iter(comms), None))
    cals = {h: c for (b, h), c in calibrations(found["ddp_step"], comms).items() if b == backend}
    if not cals:
        raise SystemExit(
            f"no {backend or 'all-reduce'} sweep with multi-node DDP points in {results} to calibrate from"
        )
    d = decide(
        args.params,
        args.step_ms / 1e3,
        args.batch,
        comms[backend],
        cals,
        world=args.nodes,
        min_efficiency=args.min_efficiency,
        rank=args.powersgd_rank,
        width=args.width,
    )
    print(f"{args.params:.3g} params, {args.step_ms:g} ms/step at batch {args.batch} on one GPU ({backend}):")
    for option, rate in d.throughput.items():
        print(f"  {option:>14}: {rate:10.1f} samples/s")
    print(f"  best: {d.best}; DDP with the {d.hook} hook: {d.step_s * 1e3:.1f} ms/step, ", end="")
    print(f"speedup {d.speedup:.2f}, efficiency {d.efficiency:.2f}")
    print(d.recommendation)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="directory of result JSON files (and jobs.json or jobs.csv)")
    p.add_argument("--link-gbit", type=float, default=2.5, help="wired link rate, Gbit/s")
    p.add_argument("--out", type=Path, help="where plots and summary.json go (default: RESULTS_DIR)")
    p.add_argument("--slots", type=int, help="GPU slots of the array (default: the nodes its jobs ran on)")
    d = p.add_argument_group("decision (--decide)")
    d.add_argument("--decide", action="store_true", help="say how to run the model given below")
    d.add_argument("--params", type=float, help="parameter count, e.g. 350e6")
    d.add_argument("--step-ms", type=float, help="single-GPU step time, ms")
    d.add_argument("--batch", type=int, help="samples per GPU and step")
    d.add_argument("--nodes", type=int, default=3)
    d.add_argument(
        "--backend", choices=("nccl", "gloo"), help="calibration to use (default: nccl if measured)"
    )
    d.add_argument(
        "--min-efficiency",
        type=float,
        default=0.8,
        help="share of independent runs' throughput DDP must keep",
    )
    d.add_argument("--powersgd-rank", type=int, default=4, help="PowerSGD matrix approximation rank")
    d.add_argument("--width", type=int, default=1024, help="typical weight-matrix side, for PowerSGD bytes")
    args = p.parse_args(argv)
    if args.decide:
        if None in (args.params, args.step_ms, args.batch):
            p.error("--decide needs --params, --step-ms and --batch")
        ask(args.results, args)
    else:
        report(args.results, args.link_gbit, args.out or args.results, args.slots)


if __name__ == "__main__":
    main()
