#!/usr/bin/env bash
# Re-extract the interface strings and merge them into the it/ru/en catalogs (then translate the new
# entries in docmgr/translations/*/LC_MESSAGES/messages.po; tests fail on any untranslated one).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l --no-location --sort-output -o /tmp/docmgr-messages.pot . >/dev/null
.venv/bin/pybabel update -i /tmp/docmgr-messages.pot -d docmgr/translations --no-fuzzy-matching --ignore-obsolete
