"""The model of the cluster: the validated spec (spec.py), the GPU policy (gpu.py: the compatibility
table and the NVIDIA settings; nvidia_packages.py: where the driver and CUDA come from on each OS;
gpu_node.py: a node's reboot and GRES from its facts) and slurm.conf's keys (slurm_conf.py).
Plain data and functions: no operations, no remote commands."""
