# The two commands: `make demo` (rig up, deploy twice, show what was verified) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SUITES ?= bookworm trixie

.PHONY: venv prereqs lint unit test demo bench bench-deploy rig-down

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The Docker engine (started), docker-compose, debootstrap and chromium, installed when missing.
prereqs:
	bash tests/rig/prereqs.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: venv
	$(PY) -m pytest -q tests/unit

# Unit tests, then the end-to-end suite once per node image (Debian 12, then Debian 13), on three nodes.
test: lint unit prereqs
	set -e; for suite in $(SUITES); do \
	  echo "== end-to-end tests on the $$suite rig"; \
	  RIG_SUITE=$$suite RIG_NODES=3 $(PY) -m pytest -q --durations=25 tests/e2e; \
	done

demo: venv prereqs
	$(PY) tests/rig/demo.py

# The benchmark on the rig left by `make demo`; results, plots and the report in bench-results/.
bench: venv
	$(PY) -m pyinfra -y tests/rig/inventory.py bench.py

# How long the deploy takes: converge and three no-change re-runs on fresh rigs of three and six nodes.
bench-deploy: venv prereqs
	$(PY) tests/rig/bench_deploy.py

rig-down: venv
	$(PY) tests/rig/rig.py down
