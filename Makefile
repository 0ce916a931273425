# Two commands do all set-up: `make dev` (the UI) and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
SCENARIO ?=
API_PORT ?= 8765
CHAOS ?=

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Third-party telemetry off everywhere (reliability_assets sets the same defaults when imported).
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

STAMP := $(VENV)/.installed

.PHONY: install home dev dev-api api demo test test-live lint bench clean

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

# The local data API (generator data, paginated; CHAOS=api_down|api_slow|api_rate_limited|api_bad_records).
api: install
	RELIABILITY_API_CHAOS=$(CHAOS) $(BIN)/python -m reliability_assets.data_api --host 127.0.0.1 --port $(API_PORT)

# The UI with customers and orders read from the local data API, which stops with it.
dev-api: home
	RELIABILITY_API_CHAOS=$(CHAOS) $(BIN)/python -m reliability_assets.data_api --host 127.0.0.1 --port $(API_PORT) & \
	api=$$!; trap "kill $$api" EXIT INT TERM; \
	RELIABILITY_API_URL=http://127.0.0.1:$(API_PORT) $(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

demo: home
	$(BIN)/reliability demo $(if $(SCENARIO),--scenario $(SCENARIO))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two workers, a module per worker (module-scoped `dagster dev` fixtures stay on one): 13 min instead of 20
# on a 2-core machine. `PYTEST_ARGS=-n0` runs them one after another.
PYTEST_ARGS ?= -n 2 --dist loadfile
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Only the live suite: `dagster dev` (webserver + daemon), runs launched through GraphQL, SIGKILLed runs.
test-live: install
	$(BIN)/pytest -m live tests/live

bench: install
	$(BIN)/python benchmarks/load_time.py
	$(BIN)/python benchmarks/llm_failover.py
	$(BIN)/python benchmarks/gates.py
	$(BIN)/python benchmarks/live_mttr.py

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .mypy_cache .ruff_cache *.egg-info
