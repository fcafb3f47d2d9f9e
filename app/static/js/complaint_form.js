// The public complaint form: kabupaten -> kecamatan -> desa selects filled from the app's
// own JSON lists (no geometry), searchable with Select2 when FAB's jQuery/Select2 are on the
// page; and an optional point picked on a Leaflet map (base layer optional: the outline of
// the chosen village is drawn from /pengaduan/batas/<id> for orientation).
(function () {
  'use strict';
  var script = document.currentScript;
  var districtsUrl = script.getAttribute('data-districts-url');
  var villagesUrl = script.getAttribute('data-villages-url');
  var $ = window.jQuery;
  var regency = document.getElementById('regency');
  var district = document.getElementById('district');
  var village = document.getElementById('village');
  if (!regency || !district || !village) { return; }

  function onChange(el, handler) {
    if ($) { $(el).on('change', handler); } else { el.addEventListener('change', handler); }
  }

  function refresh(el) {
    if ($ && $.fn.select2) { $(el).trigger('change.select2'); }
  }

  function fill(select, items) {
    var first = select.options[0];
    while (select.options.length > 1) { select.remove(1); }
    items.forEach(function (item) {
      var option = document.createElement('option');
      option.value = String(item.id);
      option.textContent = item.kind ? item.name + ' (' + item.kind + ')' : item.name;
      select.appendChild(option);
    });
    select.value = '';
    if (first) { first.selected = true; }
    refresh(select);
  }

  function load(url, id, select) {
    fill(select, []);
    if (!id) { return; }
    select.disabled = true;
    fetch(url.replace('{id}', encodeURIComponent(id)), { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (items) { fill(select, items); select.setAttribute('data-loaded-for', String(id)); })
      .catch(function (err) { select.setAttribute('data-error', err.message); })
      .then(function () { select.disabled = false; refresh(select); });
  }

  if ($ && $.fn.select2) {
    [regency, district, village].forEach(function (el) {
      $(el).select2({ theme: 'bootstrap', width: '100%' });
    });
  }
  onChange(regency, function () { fill(village, []); load(districtsUrl, regency.value, district); });
  onChange(district, function () { load(villagesUrl, district.value, village); });

  // --- the map --------------------------------------------------------------------------------
  var el = document.getElementById('complaint-map-picker');
  if (!el || !window.L) { return; }
  var latInput = document.getElementById('latitude');
  var lonInput = document.getElementById('longitude');
  var LAMPUNG = L.latLngBounds([-6.25, 103.3], [-3.7, 106.25]);
  var map = L.map(el);
  var basemap = el.getAttribute('data-basemap-url');
  if (basemap) {
    var tiles = L.tileLayer(basemap, { maxZoom: 19, attribution: '&copy; OpenStreetMap' });
    tiles.on('tileerror', function () { map.removeLayer(tiles); });
    tiles.addTo(map);
  }
  map.fitBounds(LAMPUNG);
  el.sinergiMap = map;
  var marker = null;
  var outline = null;
  var regencies = null;

  // The kabupaten/kota outlines, for orientation when there is no base layer.
  fetch(el.getAttribute('data-regencies-url'), { credentials: 'same-origin' })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (collection) {
      regencies = L.geoJSON(collection, {
        style: { color: '#7f8c8d', weight: 1, fillOpacity: 0.03 }, interactive: false
      }).addTo(map);
      regencies.bringToBack();
      el.setAttribute('data-regencies-loaded', '1');
    })
    .catch(function (err) { el.setAttribute('data-regencies-error', err.message); });

  function parse(text) {
    var value = (text || '').trim().replace(/\u2212/g, '-').replace(/\s/g, '');
    if (value.indexOf(',') >= 0 && value.indexOf('.') < 0) { value = value.replace(',', '.'); }
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(value)) { return null; }
    return parseFloat(value);
  }

  function place(latlng, pan) {
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
    if (pan) { map.setView(latlng, Math.max(map.getZoom(), 13)); }
  }

  map.on('click', function (e) {
    place(e.latlng, false);
    latInput.value = e.latlng.lat.toFixed(6);
    lonInput.value = e.latlng.lng.toFixed(6);
  });

  function fromInputs() {
    var lat = parse(latInput.value);
    var lon = parse(lonInput.value);
    if (lat === null || lon === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) { return; }
    place(L.latLng(lat, lon), true);
  }
  latInput.addEventListener('change', fromInputs);
  lonInput.addEventListener('change', fromInputs);

  document.getElementById('complaint-point-clear').addEventListener('click', function () {
    latInput.value = '';
    lonInput.value = '';
    if (marker) { map.removeLayer(marker); marker = null; }
  });

  function showVillage(id) {
    if (outline) { map.removeLayer(outline); outline = null; }
    if (!id) { return; }
    fetch(el.getAttribute('data-outline-url').replace('{id}', encodeURIComponent(id)), { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (feature) {
        outline = L.geoJSON(feature, { style: { color: '#2c7fb8', weight: 2, fillOpacity: 0.05 }, interactive: false })
          .addTo(map);
        if (!marker) { map.fitBounds(outline.getBounds(), { padding: [8, 8], animate: false }); }
        el.setAttribute('data-outline-loaded', String(id));
      })
      .catch(function (err) { el.setAttribute('data-outline-error', err.message); });
  }
  onChange(village, function () { showVillage(village.value); });

  fromInputs();
  if (village.value) { showVillage(village.value); }
  el.setAttribute('data-loaded', '1');
})();
