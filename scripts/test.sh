#!/usr/bin/env bash
# One command: install what is missing, lint, and run the whole test suite (browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check docmgr tests bench wsgi.py
.venv/bin/python -m pytest -p no:cacheprovider "$@"
