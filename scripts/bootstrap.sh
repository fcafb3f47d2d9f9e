#!/usr/bin/env bash
# Everything the app needs on a fresh Debian/Ubuntu machine, idempotent:
# system packages (when root), the virtualenv with pinned dependencies,
# vendored browser assets and compiled translations.
#   scripts/bootstrap.sh          # for running the app
#   scripts/bootstrap.sh --test   # plus Chromium and the test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0; [ "${1:-}" = "--test" ] && WITH_TEST=1
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
command -v psql >/dev/null || need+=(postgresql-client-15)
command -v npm >/dev/null || need+=(npm)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ "$WITH_TEST" = 1 ]; then command -v chromium >/dev/null || need+=(chromium); fi
if [ "$WITH_TEST" = 1 ]; then command -v ogrinfo >/dev/null || need+=(gdal-bin); fi  # tests/integration/test_ogc_gdal.py
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${need[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages. Run:"
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}"
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
reqs=requirements.txt; [ "$WITH_TEST" = 1 ] && reqs=requirements-dev.txt
stamp=.venv/.installed-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-$WITH_TEST
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python dependencies ($reqs) ..."
  .venv/bin/pip install -q --disable-pip-version-check -r "$reqs"
  touch "$stamp"
fi
scripts/vendor_assets.sh
scripts/compile_translations.sh
