// Map picker of the household form: the latitude/longitude inputs and a draggable marker
// stay in sync. Click the map to set the point, drag the marker to move it, or type the
// numbers. The outline of the village chosen in the form comes from our own endpoint
// (/villageview/geojson/<id>); the base layer is optional (offline servers).
(function () {
  'use strict';
  var el = document.getElementById('point-picker');
  if (!el || !window.L) { return; }
  var latInput = document.getElementById('latitude');
  var lonInput = document.getElementById('longitude');
  var clearButton = document.getElementById('point-clear');
  var villageSelect = document.getElementById(el.getAttribute('data-village-select') || 'village');
  var villageUrl = el.getAttribute('data-village-geojson-url');
  var LAMPUNG = L.latLngBounds([-6.25, 103.3], [-3.7, 106.25]);
  var DIGITS = 6; // ~0.1 m

  var map = L.map(el, { attributionControl: true });
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 19, attribution: '&copy; OpenStreetMap' });
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  map.fitBounds(LAMPUNG);
  el.sinergiMap = map; // for tests and the console

  var marker = null;
  var villageLayer = null;
  var contextBounds = null;

  var contextUrl = el.getAttribute('data-context-geojson-url');
  if (contextUrl) {
    fetch(contextUrl, { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (feature) {
        var layer = L.geoJSON(feature, {
          style: { color: '#7f8c8d', weight: 1, fillOpacity: 0.04 }, interactive: false
        }).addTo(map);
        layer.bringToBack();
        contextBounds = layer.getBounds();
        if (!marker && !villageLayer) { map.fitBounds(contextBounds, { padding: [8, 8], animate: false }); }
      })
      .catch(function (err) { el.setAttribute('data-context-error', err.message); });
  }

  function parse(text) {
    var value = (text || '').trim().replace(/\u2212/g, '-').replace(/\s/g, '');
    if (value.indexOf(',') >= 0 && value.indexOf('.') < 0) { value = value.replace(',', '.'); }
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(value)) { return null; }
    return parseFloat(value);
  }

  function typedPoint() {
    var lat = parse(latInput.value), lon = parse(lonInput.value);
    if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) { return null; }
    return L.latLng(lat, lon);
  }

  function writeInputs(latlng) {
    latInput.value = latlng.lat.toFixed(DIGITS);
    lonInput.value = latlng.lng.toFixed(DIGITS);
    el.setAttribute('data-point', latInput.value + ',' + lonInput.value);
  }

  function placeMarker(latlng) {
    if (marker) {
      marker.setLatLng(latlng);
    } else {
      marker = L.marker(latlng, { draggable: true, keyboard: true, autoPan: true }).addTo(map);
      marker.on('dragend', function () { writeInputs(marker.getLatLng()); });
    }
  }

  function removeMarker() {
    if (marker) { map.removeLayer(marker); marker = null; }
    el.removeAttribute('data-point');
  }

  function showVillage(id) {
    if (villageLayer) { map.removeLayer(villageLayer); villageLayer = null; }
    if (!id || id === '__None' || !villageUrl) { return; }
    el.setAttribute('data-village-loading', '1');
    fetch(villageUrl.replace('{id}', encodeURIComponent(id)), { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (feature) {
        villageLayer = L.geoJSON(feature, {
          style: { color: '#1f618d', weight: 2, dashArray: '5 4', fillOpacity: 0.08 },
          interactive: false
        }).addTo(map);
        var bounds = villageLayer.getBounds();
        if (marker) { bounds.extend(marker.getLatLng()); }
        map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17, animate: false });
        el.setAttribute('data-village-loaded', String(id));
      })
      .catch(function (err) {
        el.setAttribute('data-village-error', err.message);
      })
      .then(function () { el.removeAttribute('data-village-loading'); });
  }

  map.on('click', function (e) {
    placeMarker(e.latlng);
    writeInputs(e.latlng);
  });

  function onTyped() {
    var point = typedPoint();
    if (point) {
      placeMarker(point);
      if (!map.getBounds().contains(point)) { map.panTo(point); }
      el.setAttribute('data-point', latInput.value + ',' + lonInput.value);
    } else if (!latInput.value.trim() && !lonInput.value.trim()) {
      removeMarker();
    }
  }
  latInput.addEventListener('input', onTyped);
  lonInput.addEventListener('input', onTyped);

  if (clearButton) {
    clearButton.addEventListener('click', function () {
      latInput.value = '';
      lonInput.value = '';
      removeMarker();
    });
  }

  // FAB turns the village select into a Select2, which announces changes through jQuery.
  if (villageSelect) {
    if (window.jQuery) {
      window.jQuery(villageSelect).on('change', function () { showVillage(villageSelect.value); });
    } else {
      villageSelect.addEventListener('change', function () { showVillage(villageSelect.value); });
    }
  }

  // The form may sit in a tab that was hidden when the page loaded (FAB keeps the last tab):
  // Leaflet then measured a zero-size box, so measure again and re-frame when it is shown.
  if (window.jQuery) {
    window.jQuery(document).on('shown.bs.tab', function () {
      map.invalidateSize();
      if (villageLayer) {
        var bounds = villageLayer.getBounds();
        if (marker) { bounds.extend(marker.getLatLng()); }
        map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17, animate: false });
      } else if (marker) {
        map.setView(marker.getLatLng(), 16, { animate: false });
      } else if (contextBounds) {
        map.fitBounds(contextBounds, { padding: [8, 8], animate: false });
      }
    });
  }

  var initial = typedPoint();
  if (initial) {
    placeMarker(initial);
    map.setView(initial, 16);
    el.setAttribute('data-point', latInput.value + ',' + lonInput.value);
  }
  if (villageSelect && villageSelect.value) { showVillage(villageSelect.value); }
  el.setAttribute('data-loaded', '1');
})();
