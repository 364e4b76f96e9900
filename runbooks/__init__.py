"""The run-books behind validate.py, audit.py, upgrade.py and bench.py (checks.py, audit.py,
upgrade.py, bench.py), and the one way they run a command on a node and wait for it (remote.py)."""
