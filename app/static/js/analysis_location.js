// Location check page: one map of the listed households (points coloured by status), their
// declared villages (dashed) and located villages (green), from the page's own GeoJSON
// endpoint; "select all" for the accept action; a status link zooms the map to the point.
// The base layer is optional (offline servers): the villages alone make the map readable.
(function () {
  'use strict';
  var all = document.getElementById('location-select-all');
  if (all) {
    all.addEventListener('change', function () {
      var boxes = document.querySelectorAll('input.location-row');
      for (var i = 0; i < boxes.length; i++) { boxes[i].checked = all.checked; }
    });
  }

  var el = document.getElementById('location-map');
  if (!el || !window.L) { return; }
  var map = L.map(el, { attributionControl: true });
  el.sinergiMap = map;
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 19, attribution: '&copy; OpenStreetMap' });
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  var STYLES = {
    declared: { color: '#1f618d', weight: 1.5, dashArray: '5 4', fillOpacity: 0.04 },
    located: { color: '#27ae60', weight: 2, fillColor: '#27ae60', fillOpacity: 0.15 },
    beda_desa: { radius: 7, color: '#ffffff', weight: 2, fillColor: '#c0392b', fillOpacity: 1 },
    di_luar_wilayah: { radius: 7, color: '#ffffff', weight: 2, fillColor: '#7d3c98', fillOpacity: 1 }
  };
  var markers = {};

  function text(value) {
    var span = document.createElement('span');
    span.textContent = value == null ? '' : String(value);
    return span.innerHTML;
  }

  function popup(p) {
    return '<strong>' + text(p.head_name) + '</strong> ' + text(p.no_kk) + '<br>' + text(p.status_label) +
      '<br>' + text(el.getAttribute('data-declared-text')) + ': ' + text(p.declared) +
      (p.located ? '<br>' + text(el.getAttribute('data-located-text')) + ': ' + text(p.located) : '');
  }

  var lampung = L.latLngBounds([-6.25, 103.3], [-3.7, 106.25]);
  fetch(el.getAttribute('data-geojson-url'), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (collection) {
      var features = collection.features || [];
      var order = { declared: 0, located: 1, household: 2 };
      features.sort(function (a, b) { return order[a.properties.role] - order[b.properties.role]; });
      var layer = L.geoJSON({ type: 'FeatureCollection', features: features }, {
        style: function (f) { return STYLES[f.properties.role] || STYLES.declared; },
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, STYLES[f.properties.status] || STYLES.beda_desa);
        },
        onEachFeature: function (f, l) {
          if (f.properties.role === 'household') {
            l.bindPopup(popup(f.properties));
            markers[f.properties.id] = l;
          }
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      map.fitBounds(bounds.isValid() ? bounds : lampung, { padding: [12, 12], maxZoom: 16 });
      el.setAttribute('data-points', String(Object.keys(markers).length));
      el.setAttribute('data-loaded', '1');
    })
    .catch(function (err) {
      map.fitBounds(lampung);
      el.setAttribute('data-loaded', 'error');
      var note = document.createElement('p');
      note.className = 'text-danger';
      note.textContent = (el.getAttribute('data-error-text') || 'Map error') + ' (' + err.message + ')';
      el.parentNode.insertBefore(note, el.nextSibling);
    });

  var links = document.querySelectorAll('a.location-zoom');
  for (var i = 0; i < links.length; i++) {
    links[i].addEventListener('click', function (event) {
      event.preventDefault();
      var marker = markers[this.getAttribute('data-household')];
      if (marker) {
        map.setView(marker.getLatLng(), 15);
        marker.openPopup();
        el.scrollIntoView({ behavior: 'smooth', block: 'center' });
      }
    });
  }
})();
