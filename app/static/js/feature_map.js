// Small map on a show page (household, priority zone): a GeoJSON FeatureCollection from our
// own endpoint, each feature styled by properties.role — "zone" (filled polygon), "village"
// (dashed outline), "household" (a point). The base layer is optional (offline servers), so
// the shapes alone must be readable.
(function () {
  'use strict';
  var el = document.getElementById('feature-map');
  if (!el || !window.L) { return; }
  var note = document.getElementById('feature-map-note');
  var map = L.map(el, { attributionControl: true });
  el.sinergiMap = map; // for tests and the console
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 19, attribution: '&copy; OpenStreetMap' });
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  var STYLES = {
    zone: { color: '#b03a2e', weight: 2, fillColor: '#e74c3c', fillOpacity: 0.3 },
    village: { color: '#1f618d', weight: 1.5, dashArray: '5 4', fillOpacity: 0.06 },
    household: { radius: 7, color: '#ffffff', weight: 2, fillColor: '#c0392b', fillOpacity: 1 }
  };

  function say(text) {
    if (note && text) { note.textContent = text; }
  }

  function label(props) {
    var parts = [];
    if (props.name) { parts.push(props.name); }
    if (props.code) { parts.push('(' + props.code + ')'); }
    if (props.head_name) { parts.push(props.head_name); }
    if (props.desil) { parts.push('desil ' + props.desil); }
    return parts.join(' ');
  }

  fetch(el.getAttribute('data-geojson-url'), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (collection) {
      var features = collection.features || [];
      // Villages first, so the zone and the point are drawn on top of them.
      var order = { village: 0, zone: 1, household: 2 };
      features.sort(function (a, b) { return (order[a.properties.role] || 0) - (order[b.properties.role] || 0); });
      var layer = L.geoJSON({ type: 'FeatureCollection', features: features }, {
        style: function (f) { return STYLES[f.properties.role] || STYLES.village; },
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, STYLES.household); },
        onEachFeature: function (f, l) {
          var text = label(f.properties || {});
          if (text) { l.bindTooltip(text); }
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (!bounds.isValid()) { bounds = L.latLngBounds([-6.25, 103.3], [-3.7, 106.25]); }
      map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 });
      // Shown later in a tab (FAB keeps the last tab): measure again and re-frame.
      if (window.jQuery) {
        window.jQuery(document).on('shown.bs.tab', function () {
          map.invalidateSize();
          map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17, animate: false });
        });
      }
      var point = features.filter(function (f) { return f.properties.role === 'household'; })[0];
      if (el.hasAttribute('data-no-point-text') && !point) {
        say(el.getAttribute('data-no-point-text'));
      } else if (point && point.properties.inside_village === false) {
        say(el.getAttribute('data-outside-text'));
      }
      el.setAttribute('data-features', String(features.length));
      el.setAttribute('data-loaded', '1');
    })
    .catch(function (err) {
      el.textContent = (el.getAttribute('data-error-text') || 'Map error') + ' (' + err.message + ')';
    });
})();
