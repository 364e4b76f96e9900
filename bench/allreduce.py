"""All-reduce bandwidth sweep between the ranks of a torchrun job (one process per node).

    torchrun --nnodes=3 --nproc_per_node=1 ... bench/allreduce.py --out allreduce-nccl.json

Times all_reduce (sum) of float32 tensors from --min-bytes to --max-bytes, multiplying by --factor:
NCCL on the GPUs when CUDA is there, Gloo on the CPUs otherwise or with --backend gloo. Each size is
timed once in each of --rounds rounds, the sizes interleaved (a slow minute of the machine touches
one sample of many sizes, not every sample of one): a sample is the mean over --iters calls or as
many as last --min-sample-s, the slowest rank's, and a size's time is the median of its samples.
Rank 0 writes the JSON:
{"kind": "allreduce", "backend", "world_size", "hosts", "iters", "rounds", "rate_gbit",
 "sizes": [{"bytes", "calls", "seconds", "samples", "spread", "algbw", "busbw"}]}, bandwidths in bytes/s as
nccl-tests define them, spread (max - min) / median, rate_gbit the rate the link was held to (--rate-gbit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

if not __package__:  # run as a file by torchrun: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.model import algbw, busbw, median_spread  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("nccl", "gloo"), help="default: nccl with CUDA, else gloo")
    p.add_argument("--min-bytes", type=int, default=1024)
    p.add_argument("--max-bytes", type=int, default=256 * 2**20)
    p.add_argument("--factor", type=int, default=2, help="size step, 2 or 4")
    p.add_argument("--iters", type=int, default=4, help="all-reduces per sample")
    p.add_argument("--rounds", type=int, default=5, help="samples per size, the sizes interleaved")
    p.add_argument("--min-sample-s", type=float, default=0.05, help="each sample lasts at least this")
    p.add_argument("--warmup", type=int, default=5, help="untimed all-reduces of each size before the rounds")
    p.add_argument("--rate-gbit", type=float, help="the rate each link is held to while this runs")
    p.add_argument("--out", type=Path, required=True, help="JSON file written by rank 0")
    return p.parse_args(argv)


def timed(tensor: torch.Tensor, iters: int, warmup: int, device: torch.device) -> float:
    """Mean seconds per all_reduce on this rank, the slowest rank's."""
    for _ in range(warmup):
        dist.all_reduce(tensor)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(tensor)
    sync()
    elapsed = torch.tensor([(time.perf_counter() - start) / iters], device=device, dtype=torch.float64)
    dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    return elapsed.item()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend)
    world = dist.get_world_size()
    hosts: list[str] = [""] * world
    dist.all_gather_object(hosts, socket.gethostname())
    every = []
    nbytes = args.min_bytes
    while nbytes <= args.max_bytes:
        every.append(nbytes)
        nbytes *= args.factor
    # A first pass sets each size's calls per sample: --iters, or as many as last --min-sample-s. A
    # shaped link (tc tbf) lets a burst through at line rate after every pause, which a sample of
    # one or two messages near the burst's size would read as more than the rate.
    calls = {}
    for n in every:
        once = timed(torch.ones(n // 4, device=device), args.iters, args.warmup, device)  # same on every rank
        calls[n] = max(args.iters, math.ceil(args.min_sample_s / once))
    samples: dict[int, list[float]] = {n: [] for n in every}
    for _ in range(args.rounds):
        for n in every:
            samples[n].append(timed(torch.ones(n // 4, device=device), calls[n], 1, device))
    sizes = []
    for n in every:
        seconds, spread = median_spread(samples[n])
        row = {"bytes": n, "calls": calls[n], "seconds": seconds, "samples": samples[n], "spread": spread}
        sizes.append(row | {"algbw": algbw(n, seconds), "busbw": busbw(n, seconds, world)})
        if dist.get_rank() == 0:
            print(
                f"{n:>12} B {seconds * 1e6:12.1f} us (spread {spread:.0%})"
                f" busbw {sizes[-1]['busbw'] / 1e9:8.3f} GB/s"
            )
    if dist.get_rank() == 0:
        result = {"kind": "allreduce", "backend": backend, "world_size": world, "hosts": hosts}
        result |= {"iters": args.iters, "rounds": args.rounds, "rate_gbit": args.rate_gbit}
        args.out.write_text(json.dumps(result | {"sizes": sizes}, indent=1) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
