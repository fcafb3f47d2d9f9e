#!/usr/bin/env bash
# Vendors the browser assets the app serves itself (no CDN at run time) from the npm
# registry into app/static/vendor/. Idempotent: skips packages already in place.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=app/static/vendor
PACKAGES=("leaflet@1.9.4:dist:leaflet" "leaflet.markercluster@1.5.3:dist:leaflet.markercluster")
command -v npm >/dev/null || { echo "vendor_assets: npm is needed (apt-get install -y npm)"; exit 1; }
mkdir -p "$VENDOR"
for spec in "${PACKAGES[@]}"; do
  IFS=: read -r pkg sub dest <<<"$spec"
  stamp="$VENDOR/$dest/.version"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkg" ]; then continue; fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  rm -rf "${VENDOR:?}/$dest" && mkdir -p "$VENDOR/$dest"
  cp -r "$tmp/package/$sub/." "$VENDOR/$dest/"
  cp "$tmp/package/LICENSE" "$VENDOR/$dest/" 2>/dev/null || true
  echo "$pkg" > "$stamp"
  rm -rf "$tmp"
  echo "vendor_assets: $pkg -> $VENDOR/$dest"
done
