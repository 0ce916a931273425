# Two commands do all set-up: `make dev` (the UI) and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
SCENARIO ?=

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Third-party telemetry off everywhere (reliability_assets sets the same defaults when imported).
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

STAMP := $(VENV)/.installed

.PHONY: install home dev demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

home: install
	$(BIN)/reliability init-home

dev: home
	$(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

demo: home
	$(BIN)/reliability demo $(if $(SCENARIO),--scenario $(SCENARIO))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python benchmarks/load_time.py
	$(BIN)/python benchmarks/llm_failover.py

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .mypy_cache .ruff_cache *.egg-info
