#!/usr/bin/env bash
# The Debian programs the tests start for real, checked against the major versions the suite is
# known to pass with, so a machine with an untested one says so plainly at the start instead of
# failing somewhere in the middle of the suite.
# Known: redis-server 7-8 (Debian 12: 7.0, Debian 13: 8.0), PostgreSQL 15-17 (Debian 12: 15,
# Debian 13: 17), Chromium 120 or newer (Debian follows Chromium's stable releases within a
# Debian release, so only a floor is meaningful: the browser tests need its CDP and axe support).
set -euo pipefail
fail=0
check() {  # name, found major, lowest known, highest known ("" = no ceiling), how to read it
  local name=$1 found=$2 low=$3 high=$4
  if [ -z "$found" ]; then
    echo "system check: could not read the version of $name" >&2; fail=1; return
  fi
  if [ "$found" -lt "$low" ] || { [ -n "$high" ] && [ "$found" -gt "$high" ]; }; then
    local known="$low or newer"
    [ -n "$high" ] && known="$low to $high"
    echo "system check: $name major version $found is not one the tests are known to pass with" \
         "(known: $known). Install a known one, or run the suite and update" \
         "scripts/check-system-versions.sh if it passes." >&2
    fail=1
  fi
}
redis_major=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
check redis-server "$redis_major" 7 8
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
pg_major=$([ -n "$initdb" ] && "$initdb" --version | sed -n 's/.* \([0-9][0-9]*\)\.[0-9]*.*/\1/p' || true)
check PostgreSQL "$pg_major" 15 17
chromium_major=$(chromium --version 2>/dev/null | sed -n 's/^Chromium \([0-9]*\)\..*/\1/p')
check chromium "$chromium_major" 120 ""
exit $fail
