"""The benchmark's arithmetic and the model that says when multi-node DDP pays.

Pure Python (no torch), so the report, the tests and the decision CLI run anywhere.

Bandwidths as nccl-tests define them (doc/PERFORMANCE.md): an all-reduce of S bytes on n ranks that
takes t seconds has algbw = S / t and busbw = algbw * 2(n-1)/n, the rate a ring puts on every link,
so busbw compares with the link rate whatever n is.

The step-time model for DDP on n ranks, one GPU each, same per-GPU batch::

    t_comm = latency + 2(n-1)/n * grad_bytes / (bw_eff * busbw)
    t_step = t_compute + t_hook + max(0, t_comm - overlap * (t_compute + t_hook))

t_compute is the single-GPU step (forward, backward, optimizer); grad_bytes is what the hook sends;
t_hook is the local work a compression hook adds to a step (bf16 casts, PowerSGD's matrix
products; 0 for the plain all-reduce), measured as DDP on a one-rank group with the hook minus
without it and, for a model not measured, taken per parameter from the calibration. latency and
busbw are fitted to the all-reduce sweep. Two factors are fitted to measured DDP steps: overlap,
the share of the local work that hides communication (DDP hands each bucket to the hook as its
gradients are ready, so a bucket is on the wire while the backward goes on and while the hook
works on the next bucket: physically at most the backward's and the hook's share), and bw_eff,
the share of the sweep's busbw that DDP's bucketed all-reduces reach.
"""

from __future__ import annotations

from dataclasses import dataclass

HOOKS = ("none", "bf16", "powersgd")


def ring_factor(world: int) -> float:
    """2(n-1)/n: the bytes each link carries per byte all-reduced by a ring of n ranks."""
    return 2 * (world - 1) / world


def algbw(nbytes: float, seconds: float) -> float:
    """Algorithm bandwidth, bytes/s: message size over time."""
    return nbytes / seconds


def busbw(nbytes: float, seconds: float, world: int) -> float:
    """Bus bandwidth, bytes/s: algbw times the ring factor (0 on one rank: nothing crosses a link)."""
    return algbw(nbytes, seconds) * ring_factor(world)


def link_bytes_per_s(gbit: float) -> float:
    """A link rate in Gbit/s (2.5 for 2.5GbE) as bytes/s."""
    return gbit * 1e9 / 8


def link_fraction(bus_bytes_per_s: float, link_gbit: float) -> float:
    """busbw as a fraction of the wired link rate."""
    return bus_bytes_per_s / link_bytes_per_s(link_gbit)


WIDE = 0.2  # a point whose repeats spread over more than this share of their median supports no fit
LATENCY_BYTES = 16 * 1024  # an all-reduce this small times the latency alone (70 us of bytes at 2.5GbE)
LINK_BOUND = 0.8  # the share of a time that must scale with the link rate for it to be the link's


def median(samples: list[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def median_spread(samples: list[float]) -> tuple[float, float]:
    """The median of repeated measurements and their spread, (max - min) / median."""
    middle = median(samples)
    return middle, (max(samples) - min(samples)) / middle


def link_share(seconds: float, slower_seconds: float, rate_ratio: float) -> float:
    """The share of an all-reduce's time that scales with the link rate, from its time at a rate
    rate_ratio times lower: t = t_host + t_link, and only t_link grows by rate_ratio (0 to 1)."""
    grown = (slower_seconds / seconds - 1) / (rate_ratio - 1)
    return min(1.0, max(0.0, grown))


@dataclass(frozen=True)
class CommModel:
    """All-reduce time: latency_s + ring(n) * bytes / busbw (busbw in bytes/s)."""

    latency_s: float
    busbw: float

    def time(self, nbytes: float, world: int, bw_eff: float = 1.0) -> float:
        """Seconds to all-reduce nbytes on world ranks (0 on one rank)."""
        if world < 2:
            return 0.0
        return self.latency_s + ring_factor(world) * nbytes / (bw_eff * self.busbw)

    @classmethod
    def fit(
        cls, points: list[tuple[float, float]], world: int, small: list[tuple[float, float]] = ()
    ) -> CommModel:
        """Least squares on (bytes, seconds) points of one world size, weighted by 1/t.

        Between absolute error, where the largest message decides both terms, and relative error,
        where the many latency-bound messages pull the bandwidth above the large messages' plateau
        (on the rig, Gloo changes algorithm near 1 MB): the small messages set the latency and the
        large ones the bandwidth.

        `small`: samples of messages of at most LATENCY_BYTES. The latency is then their median, less
        their bytes' share, and the bandwidth is fitted to `points` with that latency held, in turns
        until both settle. One such sample is mostly the hosts' scheduling (on the rig every small size
        spreads wide), but their pooled median is steady, while the large messages alone place the
        latency badly (on the rig a line through 2-256 MB met zero at -0.6 ms). Without them the
        latency is fitted too, and held at zero where it comes out below.
        """
        if world < 2 or len(points) < (1 if small else 2):
            raise ValueError("fitting needs two or more message sizes on two or more ranks")
        ring = ring_factor(world)
        weights = [(1 / t, ring * b, t) for b, t in points]

        def slope(latency: float) -> float:  # seconds per link byte, the latency held
            return sum(w * x * (t - latency) for w, x, t in weights) / sum(w * x * x for w, x, _ in weights)

        if not small:
            latency, line = weighted_line([(x, t) for _, x, t in weights])
            return cls(latency, 1 / line) if latency >= 0 else cls(0.0, 1 / slope(0.0))
        latency = median([t for _, t in small])
        for _ in range(50):
            latency = median([t - ring * b * slope(latency) for b, t in small])
        return cls(latency_s=latency, busbw=1 / slope(latency))


def weighted_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Intercept and slope of t = a + b x, least squares weighted by 1/t."""
    sw = sx = sy = sxx = sxy = 0.0
    for x, t in points:
        w = 1 / t
        sw, sx, sy = sw + w, sx + w * x, sy + w * t
        sxx, sxy = sxx + w * x * x, sxy + w * x * t
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    return (sy - slope * sx) / sw, slope


def grad_bytes(params: float, hook: str, rank: int = 4, width: int = 1024) -> float:
    """Bytes all-reduced per step: fp32 gradients 4 B/param, the bf16 hook 2 B/param.

    PowerSGD sends, for each width x width weight matrix, two rank-r factors of width x r in fp32:
    4 * params * 2r/width (biases and other 1-D tensors, sent whole, are neglected).
    """
    if hook == "none":
        return 4.0 * params
    if hook == "bf16":
        return 2.0 * params
    if hook == "powersgd":
        return 4.0 * params * min(1.0, 2 * rank / width)
    raise ValueError(f"unknown hook {hook!r}, expected one of {HOOKS}")


@dataclass(frozen=True)
class Calibration:
    """The fitted factors of the step-time model (see the module docstring), and t_hook per parameter."""

    overlap: float = 0.0
    bw_eff: float = 1.0
    hook_s_per_param: float = 0.0


@dataclass(frozen=True)
class DdpPoint:
    """One measured DDP run: ranks, compute step, DDP step, bytes sent per step, parameters, t_hook."""

    world: int
    compute_s: float
    step_s: float
    grad_bytes: float
    params: float = 0.0
    hook_s: float = 0.0


def predict_step(
    compute_s: float, nbytes: float, world: int, comm: CommModel, cal: Calibration, hook_s: float = 0.0
) -> float:
    """Predicted DDP step time in seconds (the compute time and t_hook on one rank)."""
    hidden = cal.overlap * (compute_s + hook_s)
    return compute_s + hook_s + max(0.0, comm.time(nbytes, world, cal.bw_eff) - hidden)


def calibrate(points: list[DdpPoint], comm: CommModel) -> Calibration:
    """Grid search for the overlap (0..1) and bw_eff (0.005..2) with the least squared relative error.

    Only multi-rank points count: on one rank the model is the compute time whatever the factors.
    t_hook per parameter is the points' total t_hook over their total parameters.
    """
    multi = [p for p in points if p.world > 1]
    if not multi:
        raise ValueError("calibration needs at least one multi-rank DDP point")
    params = sum(p.params for p in multi)
    per_param = sum(p.hook_s for p in multi) / params if params else 0.0

    def cost(cal: Calibration) -> float:
        predicted = (predict_step(p.compute_s, p.grad_bytes, p.world, comm, cal, p.hook_s) for p in multi)
        return sum(relative_error(t, p.step_s) ** 2 for t, p in zip(predicted, multi, strict=True))

    grid = (Calibration(o / 100, e / 200, per_param) for o in range(101) for e in range(1, 401))
    return min(grid, key=cost)


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured."""
    return (predicted - measured) / measured


def error_summary(errors: list[float]) -> tuple[float, float]:
    """Max and mean absolute relative error."""
    absolute = [abs(e) for e in errors]
    return max(absolute), sum(absolute) / len(absolute)


def utilisation(jobs: list[tuple[float, float]], slots: int) -> float:
    """Busy share of the slots: sum of job durations / (slots * makespan), jobs as (start, end)."""
    makespan = max(end for _, end in jobs) - min(start for start, _ in jobs)
    return sum(end - start for start, end in jobs) / (slots * makespan)


@dataclass(frozen=True)
class Decision:
    """What to do with one model on the cluster.

    best is "ddp-<hook>", "independent" (run world experiments side by side) or "one-node" (DDP is
    slower than one GPU). speedup is DDP's samples/s over one GPU; efficiency is speedup / world, the
    share of the independent runs' total throughput that DDP keeps. throughput is samples/s per option.
    """

    best: str
    hook: str
    step_s: float
    speedup: float
    efficiency: float
    throughput: dict[str, float]
    recommendation: str


def decide(
    params: float,
    step_s: float,
    batch: int,
    comm: CommModel,
    calibrations: dict[str, Calibration],
    world: int = 3,
    min_efficiency: float = 0.8,
    rank: int = 4,
    width: int = 1024,
) -> Decision:
    """Compare world-node DDP (each calibrated hook), world independent runs and one-node training.

    DDP pays when it keeps at least min_efficiency of what independent runs would do (0.8: one run
    done 2.4x sooner on three nodes for a fifth of the cluster's throughput).
    """
    one = batch / step_s
    steps = {
        h: predict_step(
            step_s, grad_bytes(params, h, rank, width), world, comm, cal, cal.hook_s_per_param * params
        )
        for h, cal in calibrations.items()
    }
    hook = min(steps, key=steps.get)
    speedup = world * step_s / steps[hook]
    efficiency = speedup / world
    throughput = {"independent": world * one, "one-node": one}
    throughput |= {f"ddp-{h}": world * batch / s for h, s in steps.items()}
    ddp = f"{world}-node DDP ({hook} hook)"
    if speedup < 1:
        best, rec = "one-node", f"train on one node: {ddp} runs at {speedup:.2f}x one GPU"
    elif efficiency >= min_efficiency:
        best = f"ddp-{hook}"
        rec = f"use {ddp}: {speedup:.2f}x one GPU, {efficiency:.0%} of {world} independent runs"
    else:
        best = "independent"
        rec = (
            f"run {world} independent experiments: {ddp} gives {speedup:.2f}x one GPU but keeps "
            f"only {efficiency:.0%} of their throughput"
        )
    return Decision(best, hook, steps[hook], speedup, efficiency, throughput, rec)
