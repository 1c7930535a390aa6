# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KINDRED_DATA_DIR ?= $(CURDIR)/kindred-data

.PHONY: run test test-fast lint bench system-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/kindred db upgrade
	$(BIN)/kindred seed
	$(BIN)/kindred org add "Demo Cancer Center" --if-missing
	$(BIN)/kindred serve

# Debian packages the tests start for real: redis-server, PostgreSQL and Chromium.
system-deps:
	@bash scripts/install-system-deps.sh

test: system-deps $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/pytest -q -x -m "not slow"

# Benchmarks print figures; they never fail on a number. Needs the same Debian packages.
# The short version (< 5 minutes) writes docs/performance.md; BENCH_FLAGS=--full for the
# full sizes, every target and 3 runs of everything (slow).
BENCH_FLAGS ?=
bench: system-deps $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run $(BENCH_FLAGS)
	$(BIN)/python -m bench.writer --messages 20000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
