"""Cluster benchmarks: all-reduce bandwidth, DDP scaling, the experiment array, and when DDP pays."""
