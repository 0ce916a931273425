# Two commands do all set-up: `make dev` (the UI) and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
SCENARIO ?=
API_PORT ?= 8765
REPORTS_PORT ?= 8766
LLM_PORT ?= 8767
CHAOS ?=
API ?=
VERBOSE ?=

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Third-party telemetry off everywhere (reliability_assets sets the same defaults when imported).
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

STAMP := $(VENV)/.installed

.PHONY: install home dev dev-api api demo test test-e2e test-live lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

home: install
	$(BIN)/reliability init-home

# The UI under a supervisor (reliability_assets/dev.py): `dagster dev` plus the HTML report server and, without
# OPENAI_API_KEY, a local fault-injecting LLM server, each in its own process group; Ctrl-C or SIGTERM stops
# all of it within 15 s. Quiet: INFO and up, no per-tick sensor lines (VERBOSE=1: everything, DEBUG events).
# API=1 reads customers and orders from the local data API (CHAOS=api_down|api_slow|...), stopped with it.
DEV_ARGS = --host $(HOST) --port $(PORT) --reports-port $(REPORTS_PORT) --llm-port $(LLM_PORT) \
	$(if $(API),--api --api-port $(API_PORT) $(if $(CHAOS),--chaos $(CHAOS))) $(if $(VERBOSE),-v)
dev: home
	$(BIN)/reliability dev $(DEV_ARGS)

# The local data API (generator data, paginated; CHAOS=api_down|api_slow|api_rate_limited|api_bad_records).
api: install
	RELIABILITY_API_CHAOS=$(CHAOS) $(BIN)/python -m reliability_assets.reference.data_api --host 127.0.0.1 --port $(API_PORT)

# `make dev API=1`: the UI with customers and orders read from the local data API, which stops with it.
dev-api: home
	$(BIN)/reliability dev $(DEV_ARGS) $(if $(API),,--api --api-port $(API_PORT) $(if $(CHAOS),--chaos $(CHAOS)))

demo: home
	$(BIN)/reliability demo $(if $(SCENARIO),--scenario $(SCENARIO))

# lint-imports: the [tool.importlinter] contracts in pyproject. dg check defs: the code location loads, on a
# throwaway DAGSTER_HOME (telemetry off) so a fresh clone needs no `make home` and nothing is left behind.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	home=$$(mktemp -d) && printf 'telemetry:\n  enabled: false\n' > "$$home/dagster.yaml" && \
	  DAGSTER_HOME="$$home" VIRTUAL_ENV="$(abspath $(VENV))" $(BIN)/dg check defs; \
	  status=$$?; rm -rf "$$home"; exit $$status

# Two workers, a module per worker (module-scoped `dagster dev` fixtures stay on one): 13 min instead of 20
# on a 2-core machine. `PYTEST_ARGS=-n0` runs them one after another.
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Only the end-to-end suite: `dg dev` (webserver + daemon), runs launched through GraphQL, SIGKILLed runs,
# chromium, PostgreSQL. test-live: its old name.
test-e2e test-live: install
	$(BIN)/pytest -m e2e tests/e2e

bench: install
	$(BIN)/python benchmarks/load_time.py
	$(BIN)/python benchmarks/llm_failover.py
	$(BIN)/python benchmarks/gates.py
	$(BIN)/python benchmarks/live_mttr.py
	$(BIN)/python benchmarks/ui_run.py
	$(BIN)/python benchmarks/llm_batch.py

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .mypy_cache .ruff_cache *.egg-info
