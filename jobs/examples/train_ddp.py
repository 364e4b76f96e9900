"""A small DDP training loop for checking the cluster: every rank prints one JSON line.

    sbatch /opt/gpucluster/jobs/ddp.sbatch /opt/gpucluster/jobs/examples/train_ddp.py --steps 50

Uses NCCL on GPUs and Gloo on CPUs. After training, the ranks compare a checksum of their
parameters: DDP keeps them identical, so any difference means the all-reduce did not happen.
"""

import argparse
import gc
import json
import os
import socket
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    torch.manual_seed(1234 + rank)  # different data on every rank; DDP syncs the model from rank 0
    model = torch.nn.Sequential(
        torch.nn.Linear(args.width, args.width), torch.nn.ReLU(), torch.nn.Linear(args.width, 1)
    ).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.01)

    start = time.perf_counter()
    for _ in range(args.steps):
        x = torch.randn(args.batch, args.width, device=device)
        loss = (ddp(x) - x.sum(dim=1, keepdim=True)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start

    checksum = sum(p.detach().double().sum() for p in model.parameters()).reshape(1)
    sums = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(sums, checksum)
    sums = {float(s) for s in sums}
    print(
        json.dumps(
            {
                "rank": rank,
                "world": world,
                "host": socket.gethostname(),
                "backend": dist.get_backend(),
                "device": torch.cuda.get_device_name(device) if cuda else "cpu",
                # the interface the backend was told to use (job.env, through Slurm's TaskProlog)
                "interface": os.environ.get("NCCL_SOCKET_IFNAME" if cuda else "GLOO_SOCKET_IFNAME"),
                "steps_per_s": round(args.steps / elapsed, 2),
                "checksum": float(checksum),
                "identical": len(sums) == 1,
            }
        ),
        flush=True,
    )
    # Free DDP's reducer before the process group: torch's Gloo otherwise aborts at exit now and
    # then ("terminate called without an active exception"), failing a finished job.
    del ddp, optimizer, model
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
