# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KINDRED_DATA_DIR ?= $(CURDIR)/kindred-data

# axe-core (accessibility scans in the browser tests) comes from npm, for the tests only.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: run test test-fast lint bench system-deps screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Migrations, the catalog, a demo organization and navigator, then the server; the last lines
# printed are the address, the demo key phrase and the navigator's sign-in (chat_server/demo.py).
run: $(STAMP)
	@$(BIN)/python -m chat_server.demo

# Debian packages the tests start for real: redis-server, PostgreSQL and Chromium.
system-deps:
	@bash scripts/install-system-deps.sh

$(AXE): | $(BIN)/python
	@command -v npm >/dev/null 2>&1 || { echo "installing Debian's npm"; \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); $$SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	npm install --prefix $(VENV)/axe --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)

test: system-deps $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -ra

test-fast: $(STAMP) $(AXE)
	$(BIN)/pytest -q -x -m "not slow"

# Benchmarks print figures; they never fail on a number. Needs the same Debian packages.
# The short version (< 5 minutes) writes docs/performance.md; BENCH_FLAGS=--full for the
# full sizes, every target and 3 runs of everything (slow).
BENCH_FLAGS ?=
bench: system-deps $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run $(BENCH_FLAGS)
	$(BIN)/python -m bench.writer --messages 20000

# Screenshots of every screen of the browser client, desktop and phone width, for the README.
screenshots: system-deps $(STAMP)
	cd tests && ../$(BIN)/python -m support.browser_screenshots ../docs/screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
