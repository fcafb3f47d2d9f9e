#!/usr/bin/env bash
# Container start: wait for PostGIS, migrate, load demo data (demo mode), serve with gunicorn.
set -euo pipefail
cd "$(dirname "$0")/.."
FLASK=".venv/bin/flask --app run"
for _ in $(seq 60); do $FLASK db current >/dev/null 2>&1 && break; sleep 2; done
$FLASK db upgrade
$FLASK sinergi init
if [ "${SINERGI_ENV:-demo}" = demo ]; then
  $FLASK areas load-demo
  $FLASK seed demo
fi
.venv/bin/python scripts/banner.py
# Processes and threads come from gunicorn.conf.py (one process while RATELIMIT_STORAGE_URI is memory://).
exec .venv/bin/gunicorn -c gunicorn.conf.py --bind "0.0.0.0:${SINERGI_PORT:-8080}" --access-logfile - 'run:app'
