#!/usr/bin/env bash
# One command: install what is missing, create/upgrade the database, load the demo data and serve
# docmgr with gunicorn on http://127.0.0.1:${PORT:-8000}/ (SQLite + files in storage/ + Whoosh in search_index/),
# with the queue worker (`docmgr worker`) beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FLASK_APP=wsgi
.venv/bin/flask --app wsgi docmgr init
.venv/bin/flask --app wsgi docmgr demo
PORT=${PORT:-8000}
WORKERS=${WORKERS:-3}
echo
echo "docmgr is starting on http://127.0.0.1:${PORT}/  (log in with one of the demo logins above; Ctrl-C stops it)"
# The queue worker (indexing, OCR, thumbnails, periodic jobs) runs beside gunicorn and stops with it.
.venv/bin/flask --app wsgi docmgr worker &
WORKER_PID=$!
trap 'kill -TERM "$WORKER_PID" 2>/dev/null; wait "$WORKER_PID" 2>/dev/null' EXIT
.venv/bin/gunicorn --workers "$WORKERS" --bind "127.0.0.1:${PORT}" --timeout 120 --access-logfile - wsgi:app
