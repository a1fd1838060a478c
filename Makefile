# Rapport: `make demo` runs the main job on the embedded SQLite default; `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG := infra/ops/scripts/postgres.sh
KAFKA := infra/ops/scripts/kafka.sh
# The test broker has a port of its own, so a developer's broker (59092) is left alone; below
# 32768, outside the range the kernel picks client ports from, so no connection can hold it.
TEST_KAFKA_PORT ?= 29192
# Installs come from the locks (every package pinned, `make lock` refreshes them): the runtime's
# for the demo and a deployment, the developers' (the runtime's pins and the tools) for the rest.
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUNTIME := $(VENV)/.runtime-$(shell cat pyproject.toml $(RUNTIME_LOCK) | sha1sum | cut -c1-12)
DEV := $(VENV)/.dev-$(shell cat pyproject.toml $(DEV_LOCK) | sha1sum | cut -c1-12)
UV_VERSION := 0.9.30
COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet \
	--custom-compile-command "make lock"

.PHONY: install install-dev lock demo demo-serve test test-unit lint bench soak tools postgres-up postgres-down kafka-up kafka-down clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUNTIME): pyproject.toml $(RUNTIME_LOCK) | $(BIN)/python
	$(BIN)/pip install -q -c $(RUNTIME_LOCK) -e .
	rm -f $(VENV)/.runtime-*
	touch $@

# The developers' lock pins the runtime's packages at the same versions, so it installs both.
$(DEV): pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(BIN)/pip install -q -c $(DEV_LOCK) -e ".[dev]"
	rm -f $(VENV)/.dev-* $(VENV)/.runtime-*
	touch $@ $(RUNTIME)

install: $(RUNTIME)

install-dev: $(DEV)

# Re-resolves both locks from pyproject.toml, keeping every pin that still fits (UPGRADE=1: the
# newest versions allowed); the runtime's lock is resolved from the developers' pins, so the two
# agree. Commit the result with the change to pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/pip install -q "uv==$(UV_VERSION)"
	$(COMPILE) --extra dev $(if $(UPGRADE),--upgrade) -o $(DEV_LOCK)
	cp $(DEV_LOCK) $(RUNTIME_LOCK)
	$(COMPILE) -o $(RUNTIME_LOCK)
	$(BIN)/pip uninstall -q -y uv

demo: install
	$(BIN)/rapport demo

# The demo, then its dashboard on http://127.0.0.1:8080/ (until Ctrl-C).
demo-serve: install
	$(BIN)/rapport demo --serve

# Style, then the import contracts in pyproject.toml: one direction of imports and no cycles.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Debian's kcat (the client that is not Rapport's, reading the topics in the contract tests),
# chromium (the dashboard test) and promtool (lints /metrics), taken from its prometheus package.
tools:
	@infra/ops/scripts/debian-tools.sh kcat chromium
	@infra/ops/scripts/promtool.sh >/dev/null

# Starts a private PostgreSQL (installing Debian's package if needed) and a private Kafka broker
# (its jars resolved from Maven Central into a cache the first time), runs the whole suite
# against SQLite, PostgreSQL and the broker, and stops both servers whatever the outcome.
test: lint tools
	@$(PG) start
	@status=0; \
	RAPPORT_KAFKA_PORT=$(TEST_KAFKA_PORT) RAPPORT_KAFKA_DIR=/tmp/rapport-kafka-test \
	  $(KAFKA) start || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  RAPPORT_TEST_DATABASE_URL=$$($(PG) url rapport_test) \
	  RAPPORT_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$(TEST_KAFKA_PORT) \
	  $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	fi; \
	RAPPORT_KAFKA_PORT=$(TEST_KAFKA_PORT) RAPPORT_KAFKA_DIR=/tmp/rapport-kafka-test $(KAFKA) stop; \
	rm -rf /tmp/rapport-kafka-test; \
	$(PG) stop; exit $$status

# The unit tier alone (tests/unit: domain rules, projections folded in memory, no server), in
# seconds; `make test` runs it with the integration and end-to-end tiers.
test-unit: install-dev
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

bench: install-dev
	@$(PG) start
	@$(KAFKA) start
	@status=0; \
	export RAPPORT_TEST_DATABASE_URL=$$($(PG) url rapport_test); \
	$(BIN)/python -m infra.bench.ingest $(BENCH_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.imports $(IMPORT_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.rebuild $(REBUILD_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.streaming $(STREAM_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.audit $(AUDIT_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.api $(API_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.capture $(CAPTURE_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.match $(MATCH_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.startup $(STARTUP_ARGS) || status=$$?; \
	$(KAFKA) stop; $(PG) stop; exit $$status

# Writers over HTTP while rapport serve is killed with kill -9, an overlapping import and poison
# requests; fails unless nothing is lost or doubled (SQLite, then PostgreSQL).
soak: install-dev
	@$(PG) start
	@status=0; \
	$(BIN)/python -m infra.bench.soak $(SOAK_ARGS) || status=$$?; \
	$(BIN)/python -m infra.bench.soak --database-url $$($(PG) url rapport_test) $(SOAK_ARGS) \
	  || status=$$?; \
	$(PG) stop; exit $$status

postgres-up:
	@$(PG) start

postgres-down:
	@$(PG) stop

kafka-up:
	@$(KAFKA) start

kafka-down:
	@$(KAFKA) stop

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
