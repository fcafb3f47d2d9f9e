#!/usr/bin/env bash
# Compiles the gettext catalogs app/translations/<lang>/LC_MESSAGES/messages.po into the
# .mo files Flask-Babel reads. The .mo files are build output (git-ignored); run this after
# installing the venv and after every change to a .po. Idempotent: it just rewrites the .mo files.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
[ -x "$PYBABEL" ] || { echo "compile_translations: $PYBABEL not found (create the venv first)" >&2; exit 1; }
"$PYBABEL" --quiet compile -d app/translations
