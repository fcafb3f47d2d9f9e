#!/usr/bin/env bash
# Container start: make sure there is a secret key, wait for PostGIS, migrate, load demo data
# (demo mode only), serve with gunicorn. `docker_entrypoint.sh CMD...` runs CMD instead of the
# web server once the key exists (the worker service: `flask --app run jobs worker`).
set -euo pipefail
cd "$(dirname "$0")/.."
FLASK=".venv/bin/flask --app run"

# No SECRET_KEY given: a random one is written to SINERGI_SECRET_KEY_FILE (a volume) on the
# first start, readable by its owner only, and reused by every later start and by the worker.
if [ -z "${SECRET_KEY:-}" ] && [ -n "${SINERGI_SECRET_KEY_FILE:-}" ] && [ ! -s "$SINERGI_SECRET_KEY_FILE" ]; then
  mkdir -p "$(dirname "$SINERGI_SECRET_KEY_FILE")"
  (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_hex(32))' > "$SINERGI_SECRET_KEY_FILE.tmp")
  mv "$SINERGI_SECRET_KEY_FILE.tmp" "$SINERGI_SECRET_KEY_FILE"  # atomic: app and worker may start together
  echo "A new random SECRET_KEY was written to $SINERGI_SECRET_KEY_FILE"
fi

for _ in $(seq 60); do $FLASK db current >/dev/null 2>&1 && break; sleep 2; done
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
$FLASK db upgrade
$FLASK sinergi init
if [ "${SINERGI_ENV:-production}" = demo ]; then
  $FLASK areas load-demo
  $FLASK seed demo
fi
.venv/bin/python scripts/banner.py
# Processes and threads come from gunicorn.conf.py (one process while RATELIMIT_STORAGE_URI is memory://).
# Inside the container the app must listen on all interfaces; docker-compose.yml publishes the
# port on the host's loopback only. Demo mode needs SINERGI_ALLOW_PUBLIC_DEMO=1 for this bind.
exec .venv/bin/gunicorn -c gunicorn.conf.py --bind "0.0.0.0:${SINERGI_PORT:-8080}" --access-logfile - 'run:app'
