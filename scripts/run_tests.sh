#!/usr/bin/env bash
# Starts the database the tests need and runs the whole suite. The tests make and drop
# their own throw-away database (tests/conftest.py), so the demo data is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/pgcluster.py start
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
