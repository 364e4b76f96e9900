#!/bin/bash
# The launch pattern of PyTorch's own Slurm example (pytorch/examples,
# distributed/ddp-tutorial-series/slurm/sbatch_run.sh), with the node and CPU counts of the rig.
#SBATCH --job-name=multinode-example
#SBATCH --nodes=3
#SBATCH --ntasks=3
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=2
#SBATCH --output=%x-%j.out

nodes=( $( scontrol show hostnames $SLURM_JOB_NODELIST ) )
nodes_array=($nodes)
head_node=${nodes_array[0]}
head_node_ip=$(srun --nodes=1 --ntasks=1 -w "$head_node" hostname --ip-address)

echo Node IP: $head_node_ip
export LOGLEVEL=INFO

srun $GPUCLUSTER_VENV/bin/torchrun \
--nnodes 3 \
--nproc_per_node 1 \
--rdzv_id $RANDOM \
--rdzv_backend c10d \
--rdzv_endpoint $head_node_ip:29500 \
"$@"
