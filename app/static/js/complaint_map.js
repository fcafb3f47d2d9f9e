// Staff page of a complaint: the point the complainant marked, over the outline of the
// complaint's village (our own endpoint); the base layer is optional (offline servers).
(function () {
  'use strict';
  var el = document.getElementById('complaint-map');
  if (!el || !window.L) { return; }
  var lat = parseFloat(el.getAttribute('data-lat'));
  var lon = parseFloat(el.getAttribute('data-lon'));
  var map = L.map(el);
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 19, attribution: '&copy; OpenStreetMap' });
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  var point = L.latLng(lat, lon);
  L.marker(point).addTo(map);
  map.setView(point, 14);
  el.sinergiMap = map;
  fetch(el.getAttribute('data-outline-url'), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (feature) {
      var layer = L.geoJSON(feature, { style: { color: '#2c7fb8', weight: 2, fillOpacity: 0.05 }, interactive: false })
        .addTo(map);
      map.fitBounds(layer.getBounds().extend(point), { padding: [10, 10], animate: false });
    })
    .catch(function (err) { el.setAttribute('data-outline-error', err.message); });
})();
