// Small map of one area on its show page. The polygon comes from our own endpoint;
// the base layer is optional (offline servers), so the outline alone must be readable.
(function () {
  var el = document.getElementById('area-map');
  if (!el || !window.L) { return; }
  var map = L.map(el, { attributionControl: true });
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 18, attribution: '&copy; OpenStreetMap' });
    // Without internet the tiles fail; drop the layer instead of showing broken images.
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  fetch(el.getAttribute('data-geojson-url'), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (feature) {
      var layer = L.geoJSON(feature, { style: { color: '#b03a2e', weight: 2, fillOpacity: 0.25 } }).addTo(map);
      map.fitBounds(layer.getBounds(), { padding: [10, 10] });
      el.setAttribute('data-loaded', '1');
    })
    .catch(function (err) { el.textContent = 'Peta tidak dapat dimuat (' + err.message + ')'; });
})();
