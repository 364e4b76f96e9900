"""DDP step time of an MLP of a given size, with and without the local compute it is made of.

    torchrun --nnodes=3 --nproc_per_node=1 ... bench/ddp_step.py --params 50e6 --hook bf16 --out r.json

The model is --depth square Linear layers (ReLU between) of the width that gives about --params
parameters, trained with SGD on one synthetic batch of --batch samples per rank (MSE loss), so the
step is compute and gradient all-reduce only. It times --steps steps after --warmup: the DDP step;
the local step under no_sync() (forward, backward, optimizer, no communication), the compute time
the step-time model starts from; and, with a hook, DDP on a one-rank group (every rank at once, its
own group) with the hook and without: the difference is the hook's local work (casts, PowerSGD's
matrix products) without the network. What is subtracted is measured side by side: the DDP, the
local, the hooked and the plain one-rank steps all take turns over --rounds rounds of about
--steps / --rounds steps each (or as many as last --min-sample-s), so a rank starved of CPU for a
moment slows both alike; a sample is the slowest rank's mean over its round, a time the median of
its samples.

--hook picks the DDP comm hook: none (fp32 all-reduce), bf16 (torch's bf16_compress_hook) or
powersgd (powerSGD_hook, rank --powersgd-rank, compressing from the third step on). On Gloo
(CPUs) both run as on NCCL, with two adjustments: DDP refuses the bf16 hook by its name unless
CUDA and NCCL 2.10+ are there, so it is registered under another name (Gloo all-reduces bf16
tensors); and PowerSGD gets all gradients in one bucket, because on Gloo its chained all-reduces
of several buckets mismatch across ranks and hang (pytorch/pytorch#58467).

Rank 0 writes the JSON:
{"kind": "ddp_step", "backend", "world_size", "hosts", "hook", "powersgd_rank", "params", "depth", "width",
 "batch", "steps", "rounds", "step_s", "samples_per_s", "compute_s", "hook_s", "grad_bytes", "samples",
 "spread"}; samples/s counts all
ranks, hook_s is the hook's local work per step (0 without a hook), grad_bytes what it sends per step
(bench.model.grad_bytes), samples each round's step and compute times, spread their (max - min) / median.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks, powerSGD_hook
from torch.nn.parallel import DistributedDataParallel as DDP

if not __package__:  # run as a file by torchrun: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.model import HOOKS, grad_bytes, median_spread  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--params", type=float, required=True, help="parameter count, e.g. 350e6")
    p.add_argument("--depth", type=int, default=8, help="Linear layers")
    p.add_argument("--batch", type=int, default=32, help="samples per rank and step")
    p.add_argument("--steps", type=int, default=20, help="timed steps of each kind, over all rounds")
    p.add_argument("--rounds", type=int, default=5, help="samples of each time, taken in turns")
    p.add_argument("--min-sample-s", type=float, default=1.0, help="each sample lasts at least this")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--hook", choices=HOOKS, default="none")
    p.add_argument("--powersgd-rank", type=int, default=4, help="PowerSGD matrix approximation rank")
    p.add_argument("--backend", choices=("nccl", "gloo"), help="default: nccl with CUDA, else gloo")
    p.add_argument("--out", type=Path, required=True, help="JSON file written by rank 0")
    args = p.parse_args(argv)
    args.backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if args.hook == "powersgd" and args.warmup < 3:
        p.error("--hook powersgd needs --warmup 3 or more: it compresses from the third step")
    return args


def mlp(params: float, depth: int) -> tuple[nn.Sequential, int]:
    """depth Linear(width, width) layers with ReLU between, width a multiple of 8."""
    width = max(8, round(math.sqrt(params / depth) / 8) * 8)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers[:-1]), width


def timed(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    """Mean seconds per step on this rank, the slowest rank's."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    elapsed = torch.tensor([(time.perf_counter() - start) / steps], device=device, dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    return elapsed.item()


def gloo_bf16_compress_hook(process_group, bucket):
    """torch's bf16_compress_hook under a name DDP does not check for CUDA and NCCL (see the top)."""
    return default_hooks.bf16_compress_hook(process_group, bucket)


def wrap(model: nn.Module, args: argparse.Namespace, device: torch.device, hook: str, group=None) -> DDP:
    """model under DDP on group (default: all ranks) with the hook registered."""
    options = {"device_ids": [device.index] if device.type == "cuda" else None, "process_group": group}
    if hook == "powersgd" and args.backend == "gloo":  # one bucket (see the top)
        options["bucket_cap_mb"] = 4 * sum(p.numel() for p in model.parameters()) / 2**20 + 1
    ddp = DDP(model, **options)
    if hook == "bf16":
        gloo = args.backend == "gloo"
        ddp.register_comm_hook(group, gloo_bf16_compress_hook if gloo else default_hooks.bf16_compress_hook)
    elif hook == "powersgd":
        state = powerSGD_hook.PowerSGDState(
            group, matrix_approximation_rank=args.powersgd_rank, start_powerSGD_iter=2
        )
        ddp.register_comm_hook(state, powerSGD_hook.powerSGD_hook)
    return ddp


def trainer(ddp: DDP, args: argparse.Namespace, width: int, device: torch.device) -> Callable[[], None]:
    """One SGD step of ddp on a fixed synthetic batch."""
    opt = torch.optim.SGD(ddp.parameters(), lr=1e-4)
    x = torch.randn(args.batch, width, device=device)
    y = torch.randn(args.batch, width, device=device)

    def step() -> None:
        opt.zero_grad()
        F.mse_loss(ddp(x), y).backward()
        opt.step()

    return step


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    """Time the one-rank-group steps (with a hook), the DDP and the local steps: the result fields."""
    torch.manual_seed(0)
    model, width = mlp(args.params, args.depth)
    model.to(device)
    own, _ = dist.new_subgroups(group_size=1)

    steps = {}
    if args.hook != "none":  # the one-rank steps of the same model, with the hook and without
        for h in (args.hook, "none"):
            alone = wrap(copy.deepcopy(model), args, device, h, own)
            steps[f"alone-{h}"] = trainer(alone, args, width, device)
    ddp = wrap(model, args, device, args.hook)
    steps["step"] = trainer(ddp, args, width, device)

    def local_step() -> None:
        with ddp.no_sync():
            steps["step"]()

    steps["compute"] = local_step
    found = in_turns(steps, args, device)
    (step_s, step_spread, step_samples), (compute_s, compute_spread, compute_samples) = (
        found["step"],
        found["compute"],
    )
    hook_s = max(0.0, found[f"alone-{args.hook}"][0] - found["alone-none"][0]) if args.hook != "none" else 0.0
    params = sum(p.numel() for p in model.parameters())
    return {
        "hook": args.hook,
        "powersgd_rank": args.powersgd_rank,
        "params": params,
        "depth": args.depth,
        "width": width,
        "batch": args.batch,
        "steps": args.steps,
        "rounds": args.rounds,
        "step_s": step_s,
        "samples_per_s": dist.get_world_size() * args.batch / step_s,
        "compute_s": compute_s,
        "hook_s": hook_s,
        "grad_bytes": grad_bytes(params, args.hook, args.powersgd_rank, width),
        "samples": {"step_s": step_samples, "compute_s": compute_samples},
        "spread": {"step_s": step_spread, "compute_s": compute_spread},
    }


def in_turns(steps: dict[str, Callable[[], None]], args: argparse.Namespace, device) -> dict:
    """Each step warmed up, then timed in turns over args.rounds rounds: {name: (median, spread, samples)}.
    A sample is args.steps / args.rounds steps, or as many as last args.min_sample_s: a few short steps
    of ranks sharing CPUs measure the scheduler's time slices more than the step."""
    per_round = {}
    for name, step in steps.items():
        once = timed(step, max(1, args.warmup), 0, device)  # the warm-up, timed: the same on every rank
        per_round[name] = max(math.ceil(args.steps / args.rounds), math.ceil(args.min_sample_s / once))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            samples[name].append(timed(step, per_round[name], 0, device))
    return {name: (*median_spread(found), found) for name, found in samples.items()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        # One thread per rank on CPUs: a job's GPU brings it all of a node's cores (DefCpuPerGPU),
        # and on the rig three ranks share the build machine's two, where more threads than cores
        # make every timing noise (a bf16 cast's few ms then vanish). GPUs are unaffected.
        torch.set_num_threads(1)
    dist.init_process_group(args.backend)
    hosts: list[str] = [""] * dist.get_world_size()
    dist.all_gather_object(hosts, socket.gethostname())
    result = measure(args, device)
    gc.collect()  # DDP holds reference cycles: free it now, or Gloo may abort at exit (torch 2.13)
    if dist.get_rank() == 0:
        result = {
            "kind": "ddp_step",
            "backend": args.backend,
            "world_size": len(hosts),
            "hosts": hosts,
        } | result
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
