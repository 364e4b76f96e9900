"""The deploy's steps, one module per concern, each with one @deploy function that deploy.py calls;
beside them the model (spec.py, gpu.py), facts.py, the helpers the steps share (shared.py, sync.py,
render.py) and the run-books behind validate.py, audit.py, upgrade.py and bench.py (checks.py,
audit.py, upgrade.py, bench.py)."""
