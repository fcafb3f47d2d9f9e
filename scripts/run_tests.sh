#!/usr/bin/env bash
# Starts the database the tests need and runs the whole suite. The tests make and drop
# their own throw-away database (tests/conftest.py), so the demo data is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
# fsync off: the tests' databases are thrown away. Exported so that the tests which call
# pgcluster.py themselves keep the cluster the way this run started it.
export SINERGI_PG_FAST=1
python3 scripts/pgcluster.py start --fast
mkdir -p test-artifacts
exec .venv/bin/python -m pytest "$@"
