# Book API: `make run` serves the API, `make test` runs the whole suite with coverage.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
WORKERS ?= $(or $(WEB_CONCURRENCY),2)
export FLASK_APP := wsgi

.PHONY: run test lint format fuzz bench migrate seed clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

migrate: $(VENV)/.runtime
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed --if-empty

run: seed
	@echo "Book API on http://$(HOST):$(PORT)/api (directory), v1 at /api/v1, v2 at /api/v2"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) wsgi:app

# The suite runs on TEST_WORKERS pytest-xdist workers (0: in this one process), each with
# databases of its own (tests/conftest.py); coverage is combined from all of them.
TEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(BIN)/pytest -n $(TEST_WORKERS) --cov --cov-report=term-missing

# Schemathesis against both versions' OpenAPI documents on a fresh database.
FUZZ_EXAMPLES ?= 50
fuzz: $(VENV)/.dev
	$(BIN)/python tools/fuzz.py --max-examples $(FUZZ_EXAMPLES)

# In-process latency (p50/p95, req/s) of the main requests, v1 and v2, and the memory of a page of
# 100 books, on 10,000 and 1,000,000 seeded books (a few minutes on SQLite).
# BENCH_SIZES=10000 for a quick run; BENCH_REQUESTS per scenario (200); BENCH_DATABASE_URL to
# measure PostgreSQL instead (its name must contain "bench" or "test": it is emptied).
bench: $(VENV)/.dev
	$(BIN)/python tools/bench.py

# Rewrite the contract snapshots (tests/contract/snapshots/: each version's OpenAPI document and
# golden responses) from the code. Refuses a breaking change; FORCE=1 writes one for a version
# that is not frozen (never v1).
.PHONY: snapshots
snapshots: $(VENV)/.dev
	$(BIN)/python tools/snapshots.py $(if $(FORCE),--force)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage htmlcov
