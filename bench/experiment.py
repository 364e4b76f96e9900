"""One short independent experiment of the array benchmark: holds its GPU slot for --seconds.

    sbatch --array=0-29 --gres=gpu:1 experiments.sbatch bench/experiment.py --seconds 10

Prints one JSON line, {"kind": "experiment", "job", "node", "start", "end"} (epoch seconds), the
span of the work itself: the gaps between them are what scheduling costs. It sleeps rather than
computes: the array measures how well Slurm keeps the slots busy, not the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    start = time.time()
    time.sleep(args.seconds)
    job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', '')}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    print(
        json.dumps(
            {
                "kind": "experiment",
                "job": job,
                "node": socket.gethostname(),
                "start": start,
                "end": time.time(),
            }
        )
    )


if __name__ == "__main__":
    main()
