#!/usr/bin/env bash
# One command: install what is missing, lint, and run the whole test suite (browser tests included) twice:
#   pass 1: the default install — SQLite + Whoosh + the embedded queue;
#   pass 2: the cluster backends — PostgreSQL + PostgreSQL full-text search + Redis, from Debian's packages,
#           started here in temporary folders on loopback (`python -m tests.servers`) and stopped at the end;
#           tests marked backend_independent (slow, and touching none of the three) are not run again.
# Exits non-zero if either pass fails (both always run). Arguments go to both pytest runs; each pass ends with
# its 25 slowest tests (what to mark backend_independent when CI nears 45 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/ruff check docmgr tests bench wsgi.py || exit 1

echo "=== pass 1/2: SQLite + Whoosh + embedded queue ==="
.venv/bin/python -m pytest -p no:cacheprovider --durations=25 "$@"
first=$?

echo "=== pass 2/2: PostgreSQL + PostgreSQL search + Redis ==="
DOCMGR_TEST_DATABASE=postgres DOCMGR_TEST_SEARCH_BACKEND=postgres DOCMGR_TEST_QUEUE=redis \
  .venv/bin/python -m tests.servers -- \
  .venv/bin/python -m pytest -p no:cacheprovider --durations=25 -m "not backend_independent" "$@"
second=$?

echo "pass 1 (SQLite): exit ${first}; pass 2 (PostgreSQL + Redis): exit ${second}"
[ "$first" -eq 0 ] && [ "$second" -eq 0 ]
