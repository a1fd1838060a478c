# Rapport: `make demo` runs the main job on the embedded SQLite default; `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PG := infra/scripts/postgres.sh

.PHONY: install demo test lint bench postgres-up postgres-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/rapport demo

lint: install
	$(BIN)/ruff check .

# Starts a private PostgreSQL (installing Debian's package if needed), runs the whole suite
# against SQLite and PostgreSQL, and stops the server whatever the outcome.
test: lint
	@$(PG) start
	@status=0; \
	RAPPORT_TEST_DATABASE_URL=$$($(PG) url rapport_test) $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	$(PG) stop; exit $$status

bench: install
	@$(PG) start
	@status=0; \
	export RAPPORT_TEST_DATABASE_URL=$$($(PG) url rapport_test); \
	$(BIN)/python -m infra.benchmarks.ingest $(BENCH_ARGS) || status=$$?; \
	$(BIN)/python -m infra.benchmarks.rebuild $(REBUILD_ARGS) || status=$$?; \
	$(PG) stop; exit $$status

postgres-up:
	@$(PG) start

postgres-down:
	@$(PG) stop

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
