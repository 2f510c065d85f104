# vocloud: `make demo` and `make test` each set up .venv themselves.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest

.PHONY: venv demo test lint format test-unit test-cluster test-vo test-hpc test-browser vo-server-stop slurm-stop bench clean

venv:
	@bash scripts/venv.sh

demo: venv
	$(BIN)/vocloud demo --folder demo

test: venv lint test-unit test-cluster test-vo test-hpc test-browser
	@echo "make test: all tiers passed"

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: venv
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Fast tests: no cluster, no services.
test-unit: venv
	$(PYTEST) -m "not cluster and not vo and not hpc and not browser" tests
	$(PYTEST) --doctest-modules src

# Real dask.distributed LocalClusters on loopback, the CLI in subprocesses, crash + resume.
test-cluster: venv
	$(PYTEST) -m "cluster and not vo and not hpc and not browser" tests

# A real GAVO DaCHS (Debian gavodachs2-server + PostgreSQL) on 127.0.0.1:8080 with our RD and data:
# TAP, SSAP, ObsCore, DataLink, SODA. ensure.sh installs/starts it (or records why it cannot: the
# tests then skip, or fail under CI=true); what this run started is stopped, even on failure.
test-vo: venv
	@lease=$$$$; rc=0; \
	bash scripts/vo-server/ensure.sh --lease $$lease || rc=$$?; \
	if [ $$rc = 0 ]; then $(PYTEST) -m vo tests || rc=$$?; fi; \
	bash scripts/vo-server/stop.sh --lease $$lease; exit $$rc

# A real single-node SLURM (Debian slurmctld + slurmd + munge) on 127.0.0.1: Dask workers as batch
# jobs through dask-jobqueue. scripts/slurm/ensure.sh installs/starts it or records why it cannot
# (skip; a failure under CI=true); what this run started is stopped, even on failure.
test-hpc: venv
	@lease=$$$$; rc=0; \
	bash scripts/slurm/ensure.sh --lease $$lease || rc=$$?; \
	if [ $$rc = 0 ]; then $(PYTEST) -m hpc tests || rc=$$?; fi; \
	bash scripts/slurm/stop.sh --lease $$lease; exit $$rc

# Dashboards in a real headless Chromium (Debian's chromium, driven by Playwright; nothing is
# downloaded but the Debian package). scripts/browser/ensure.sh installs/checks it or records why
# it cannot (skip; a failure under CI=true).
test-browser: venv
	@bash scripts/browser/ensure.sh --lease $$$$ && $(PYTEST) -m browser tests

# Stop SLURM if our scripts started it.
slurm-stop:
	@bash scripts/slurm/stop.sh

# Stop the VO server if our scripts started it (make test-vo leaves running what it found running).
vo-server-stop:
	@bash scripts/vo-server/stop.sh

bench: venv
	$(BIN)/python benchmarks/preprocess.py

clean:
	rm -rf demo .pytest_cache .ruff_cache
