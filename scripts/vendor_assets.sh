#!/usr/bin/env bash
# Vendors the browser assets the app serves itself (no CDN at run time) from the npm
# registry into app/static/vendor/. Idempotent: skips packages already in place.
#
# Spec: "package@version:dir:dest[:keep]" copies the contents of <dir> inside the package
# (. = the package root) to app/static/vendor/<dest>; with <keep> (comma-separated paths
# relative to <dir>, files or folders) only those are copied. Versions are pinned.
# The folium map pages (gis/maps.py) point folium's and branca's default_js/default_css
# at these copies: Leaflet, jQuery, Bootstrap 5, Font Awesome, awesome-markers, d3 v3
# (branca's colormap legend), Leaflet.markercluster and Leaflet.VectorGrid.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=app/static/vendor
PACKAGES=(
  "leaflet@1.9.4:dist:leaflet"
  "leaflet.markercluster@1.5.3:dist:leaflet.markercluster"
  "leaflet.vectorgrid@1.3.0:dist:leaflet.vectorgrid:Leaflet.VectorGrid.bundled.js,Leaflet.VectorGrid.bundled.min.js"
  "leaflet.awesome-markers@2.0.5:dist:leaflet.awesome-markers"
  "jquery@3.7.1:dist:jquery:jquery.min.js"
  "bootstrap@5.2.2:dist:bootstrap5:css/bootstrap.min.css,js/bootstrap.bundle.min.js"
  "@fortawesome/fontawesome-free@6.2.0:.:fontawesome-free:css/all.min.css,webfonts"
  "d3@3.5.17:.:d3:d3.min.js"
  "chart.js@4.4.7:dist:chart.js:chart.umd.js"
)
command -v npm >/dev/null || { echo "vendor_assets: npm is needed (apt-get install -y npm)"; exit 1; }
mkdir -p "$VENDOR"
for spec in "${PACKAGES[@]}"; do
  IFS=: read -r pkg sub dest keep <<<"$spec"
  stamp="$VENDOR/$dest/.version"
  want="$pkg${keep:+:$keep}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then continue; fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  rm -rf "${VENDOR:?}/$dest" && mkdir -p "$VENDOR/$dest"
  if [ -z "$keep" ]; then
    cp -r "$tmp/package/$sub/." "$VENDOR/$dest/"
  else
    IFS=, read -r -a paths <<<"$keep"
    for path in "${paths[@]}"; do
      mkdir -p "$VENDOR/$dest/$(dirname "$path")"
      cp -r "$tmp/package/$sub/$path" "$VENDOR/$dest/$path"
    done
  fi
  for license in LICENSE LICENSE.txt LICENSE.md; do
    [ -f "$tmp/package/$license" ] && cp "$tmp/package/$license" "$VENDOR/$dest/"
  done
  echo "$want" > "$stamp"
  rm -rf "$tmp"
  echo "vendor_assets: $pkg -> $VENDOR/$dest"
done
