# vocloud: `make demo` and `make test` each set up .venv themselves.
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest

.PHONY: venv demo test lint format test-unit test-cluster bench clean

venv:
	@bash scripts/venv.sh

demo: venv
	$(BIN)/vocloud demo --folder demo

test: venv lint test-unit test-cluster
	@echo "make test: all tiers passed"

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: venv
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Fast tests: no cluster, no services.
test-unit: venv
	$(PYTEST) -m "not cluster" tests
	$(PYTEST) --doctest-modules src

# Real dask.distributed LocalClusters on loopback, the CLI in subprocesses, crash + resume.
test-cluster: venv
	$(PYTEST) -m cluster tests

bench: venv
	$(BIN)/python benchmarks/preprocess.py

clean:
	rm -rf demo .pytest_cache .ruff_cache
