# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KINDRED_DATA_DIR ?= $(CURDIR)/kindred-data

# Every Python package, direct and transitive, with its hashes: what the server, the tests
# and the benchmark run on (docs/operations.md, section 11). Installed from the lock only.
LOCK := requirements/dev.lock
SERVER_LOCK := requirements/server.lock
TOOLS := .venv-tools
COMPILE = $(TOOLS)/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11

# axe-core (accessibility scans in the browser tests) comes from npm, for the tests only.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: run test test-fast lint bench system-deps screenshots clean lock lock-files upgrade audit

$(BIN)/python:
	$(PY) -m venv $(VENV)

# pip check fails when pyproject.toml asks for something the lock does not hold.
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	@# setuptools' notes on editable installs are kept in a log, shown only if it fails.
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . >$(VENV)/install.log 2>&1 \
	  || { cat $(VENV)/install.log; exit 1; }
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	  echo "pyproject.toml and $(LOCK) disagree: run 'make lock'"; exit 1; }
	touch $@

$(TOOLS)/.installed: requirements/tools.lock
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --require-hashes -r requirements/tools.lock
	touch $@

# After editing pyproject.toml: resolve what changed, keep every other pin, run the suite.
# (`make lock-files` rewrites the locks alone.)
lock: lock-files
	$(MAKE) test

lock-files: $(TOOLS)/.installed
	$(COMPILE) pyproject.toml requirements/build.in --extra test --extra bench --extra client -o $(LOCK)
	$(COMPILE) pyproject.toml requirements/build.in -c $(LOCK) -o $(SERVER_LOCK)

# Deliberate upgrade of every pin to the newest compatible release, then the whole suite.
upgrade: $(TOOLS)/.installed
	$(COMPILE) --upgrade pyproject.toml requirements/build.in --extra test --extra bench --extra client -o $(LOCK)
	$(COMPILE) pyproject.toml requirements/build.in -c $(LOCK) -o $(SERVER_LOCK)
	$(MAKE) test

# Known vulnerabilities in the pinned set (asks the advisory database online).
audit: $(TOOLS)/.installed
	$(TOOLS)/bin/pip-audit --require-hashes --disable-pip -r $(LOCK)

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

# One worker more than the machine has cores (a test file each, so a module's deployments stay
# in one worker): the tests spend part of their time waiting on their servers, so one worker a
# core left the cores idle ~30 % of the time (2 cores, 2026-12-07: 2 workers 21.1 min, 3 workers
# 18.1 min, back to back). TEST_WORKERS=0 runs everything in one process, e.g. to debug.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: system-deps $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -ra --durations=25 -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP) $(AXE)
	$(BIN)/pytest -q -x -m "not slow" -n $(TEST_WORKERS) --dist loadfile

# Benchmarks print figures; they never fail on a number. Needs the same Debian packages.
# The short version (about 10 minutes) writes docs/performance.md: every target, then filling
# a big room and the transcript writers, and issue 18's targets judged from that one run;
# BENCH_FLAGS=--full for the full sizes and 3 runs of everything (slow).
BENCH_FLAGS ?=
bench: system-deps $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_FLAGS)

# Issue 18's soak (bench/soak.py, docs/operations.md "The soak"): two gateways on Redis and
# PostgreSQL for SOAK_MINUTES, small rooms, members dropping and resuming on either gateway.
# Fails if any acknowledged message is missing or doubled, or any anti-entropy alarm fired.
SOAK_MINUTES ?= 10
.PHONY: soak
soak: system-deps $(STAMP)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES) --gateways 2

# Screenshots of every screen of the browser client, desktop and phone width, for the README.
screenshots: system-deps $(STAMP)
	cd tests && ../$(BIN)/python -m support.browser_screenshots ../docs/screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
