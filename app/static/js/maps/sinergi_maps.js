// Dynamic layers of the folium map pages (gis/maps.py). folium builds the map, the layer
// control and the cluster / vector-grid layers; this script loads the data in the browser
// from the scoped GIS endpoints (never through folium, which would fetch on the server):
//   SinergiMaps.villageMap(map, config, handles)    villages coloured by a measure + borders + zones
//   SinergiMaps.householdMap(map, config, handles)  household points, clustered or vector tiles
// Every request goes to the app itself; the base layer is optional (servers have no internet).
(function (window) {
  'use strict';
  var L = window.L;
  var document = window.document;

  // ColorBrewer sequential ramps without their palest step, so 0 (white) stands apart.
  var RAMPS = {
    desil1: ['#fed976', '#feb24c', '#fd8d3c', '#f03b20', '#bd0026'],
    multi_program: ['#dadaeb', '#bcbddc', '#9e9ac8', '#756bb1', '#54278f'],
    gaps: ['#fcbba1', '#fc9272', '#fb6a4a', '#de2d26', '#a50f15'],
    programs_0: ['#fcbba1', '#fc9272', '#fb6a4a', '#de2d26', '#a50f15'],
    programs_1: ['#c6dbef', '#9ecae1', '#6baed6', '#3182bd', '#08519c'],
    programs_2: ['#dadaeb', '#bcbddc', '#9e9ac8', '#756bb1', '#54278f'],
    programs_3plus: ['#d4b9da', '#c994c7', '#df65b0', '#dd1c77', '#980043'],
    coverage: ['#d7191c', '#fdae61', '#ffffbf', '#a6d96a', '#1a9641'],
    // targeting snapshots and duplicates (gis/targeting.py)
    desil_exit: ['#c7e9c0', '#a1d99b', '#74c476', '#31a354', '#006d2c'],
    entered: ['#c6dbef', '#9ecae1', '#6baed6', '#3182bd', '#08519c'],
    left: ['#fdd0a2', '#fdae6b', '#fd8d3c', '#e6550d', '#a63603'],
    duplicates: ['#d4b9da', '#c994c7', '#df65b0', '#dd1c77', '#980043']
  };
  // Measures that are counts of the diff between two snapshots (the legend names the pair, the
  // popup links the diff page's household list of that kind) and the duplicate pairs. A village
  // without households in the latest data can still have households that left it.
  var DIFF_KINDS = { desil_exit: 'desil_up', entered: 'entered', left: 'left' };
  var TARGETING = { desil_exit: true, entered: true, left: true, duplicates: true };
  var ZERO_COLOUR = '#ffffff';
  var EMPTY_COLOUR = '#bdbdbd';
  // Desil 1 (poorest) darkest. Sinergi records desil 1-4; a 10-class palette is kept for 1-10.
  var DESIL_PALETTES = {
    4: ['#99000d', '#e34a33', '#fc8d59', '#fdcc8a'],
    10: ['#67000d', '#99000d', '#cb181d', '#ef3b2c', '#fb6a4a', '#fc9272', '#fcbba1', '#fdd0a2', '#fee6ce', '#fff5eb']
  };
  var DESIL_COLOURS = DESIL_PALETTES[4];
  var PROGRAM_COLOURS = ['#d7191c', '#fdae61', '#abd9e9', '#2c7bb6']; // 0 (not reached), 1, 2, 3+
  var UNKNOWN_COLOUR = '#969696';
  var BBOX_ZOOM = 10;       // from this zoom on, villages are loaded for the view only
  var PAGE_SIZE = 5000;     // household points per GeoJSON page

  // Leaflet.VectorGrid 1.3.0 calls L.DomEvent.fakeStop, which Leaflet 1.8 removed.
  if (L && L.DomEvent && !L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function () {}; }

  var SinergiMaps = {
    current: null,
    busy: function () { return inflight > 0 || waiting > 0; }
  };
  var locale = 'id-ID';
  var labels = {};

  // --- small helpers ----------------------------------------------------------------------
  function esc(value) {
    return String(value === null || value === undefined ? '' : value).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(value, digits) {
    if (value === null || value === undefined || value === '' || isNaN(Number(value))) { return '–'; }
    return Number(value).toLocaleString(locale, { maximumFractionDigits: digits || 0 });
  }
  function t(key, vars) {
    var text = labels[key] || key;
    Object.keys(vars || {}).forEach(function (name) { text = text.split('{' + name + '}').join(vars[name]); });
    return text;
  }
  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value !== null && value !== undefined && value !== '') {
        parts.push(encodeURIComponent(key) + '=' + encodeURIComponent(value));
      }
    });
    return parts.join('&');
  }
  function withQuery(url, params) {
    var qs = query(params);
    return qs ? url + (url.indexOf('?') >= 0 ? '&' : '?') + qs : url;
  }
  // Requests under way and reloads waiting for the map to settle (SinergiMaps.busy()).
  var inflight = 0;
  var waiting = 0;
  function getJSON(url) {
    inflight++;
    return window.fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/geo+json, application/json' } })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      })
      .then(function (data) { inflight--; return data; }, function (err) { inflight--; throw err; });
  }
  function debounce(fn, ms) {
    var timer = null;
    return function () {
      if (timer === null) { waiting++; } else { window.clearTimeout(timer); }
      timer = window.setTimeout(function () { timer = null; waiting--; fn(); }, ms);
    };
  }
  // Keep the page's state in its own URL and in the hosting FAB page's URL (reload keeps it).
  function syncUrl(params) {
    var qs = query(params);
    window.history.replaceState(null, '', window.location.pathname + (qs ? '?' + qs : ''));
    try {
      var host = window.parent !== window && window.parent.document.querySelector('[data-sinergi-map-host]');
      if (host) {
        window.parent.history.replaceState(null, '', window.parent.location.pathname + (qs ? '?' + qs : ''));
        var full = host.querySelector('#sinergi-map-full');
        if (full) { full.href = window.location.href; }
      }
    } catch (e) { /* not same origin: nothing to sync */ }
  }
  function reloadWith(params) {
    syncUrl(params);
    window.location.reload();
  }
  function setBodyState(key, value) { document.body.setAttribute('data-' + key, String(value)); }

  function makePane(map, name, zIndex, interactive) {
    var pane = map.createPane(name);
    pane.style.zIndex = zIndex;
    if (!interactive) { pane.style.pointerEvents = 'none'; }
    return name;
  }

  // An offline server has no base map: drop the layer at the first failed tile.
  function guardBasemap(map, basemap, control) {
    if (!basemap) { return; }
    basemap.once('tileerror', function () {
      map.removeLayer(basemap);
      if (control) { control.removeLayer(basemap); }
    });
  }

  function control(position, className, build) {
    var Ctl = L.Control.extend({
      options: { position: position },
      onAdd: function () {
        var div = L.DomUtil.create('div', className);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        build(div);
        return div;
      }
    });
    return new Ctl();
  }

  function statusControl(map) {
    var el;
    control('bottomleft', 'sinergi-status leaflet-control', function (div) { el = div; }).addTo(map);
    return function (text, isError) {
      el.textContent = text;
      el.className = 'sinergi-status leaflet-control' + (isError ? ' sinergi-error' : '');
      el.style.display = text ? '' : 'none';
    };
  }

  // <select> with options [{value, label}]
  function select(parent, id, labelText, options, value, onChange) {
    var label = L.DomUtil.create('label', '', parent);
    label.setAttribute('for', id);
    label.textContent = labelText;
    var sel = L.DomUtil.create('select', 'form-select form-select-sm', parent);
    sel.id = id;
    options.forEach(function (opt) {
      var o = document.createElement('option');
      o.value = String(opt.value);
      o.textContent = opt.label;
      if (String(opt.value) === String(value)) { o.selected = true; }
      sel.appendChild(o);
    });
    sel.addEventListener('change', function () { onChange(sel.value); });
    return sel;
  }

  function fixed(parent, labelText, text) {
    var label = L.DomUtil.create('label', '', parent);
    label.textContent = labelText;
    var div = L.DomUtil.create('div', 'sinergi-fixed', parent);
    div.textContent = text;
  }

  function regencyChooser(panel, cfg, state, onChange) {
    if (cfg.canChooseRegency) {
      var options = [{ value: '', label: t('wholeProvince', { province: cfg.province || '' }) }];
      cfg.regencies.forEach(function (r) { options.push({ value: r.code, label: r.name }); });
      select(panel, 'sinergi-regency', t('area'), options, state.regency, onChange);
    } else {
      var own = cfg.regencies.filter(function (r) { return r.code === state.regency; })[0];
      fixed(panel, t('area'), own ? own.name : (cfg.province || ''));
    }
  }

  // The endpoints simplify geometry for an integer zoom; the map may sit between two.
  function zoomLevel(map) { return Math.round(map.getZoom()); }

  // A sticky tooltip would sit on top of an open popup.
  function hideTooltipsUnderPopups(map) {
    map.on('popupopen', function () { L.DomUtil.addClass(map.getContainer(), 'sinergi-popup-open'); });
    map.on('popupclose', function () { L.DomUtil.removeClass(map.getContainer(), 'sinergi-popup-open'); });
  }

  // Popups open right of the filter panel and below the layer switcher, never over them.
  function popupOptions(map) {
    function size(selector, side) {
      var corner = map.getContainer().querySelector(selector);
      return corner ? corner.getBoundingClientRect()[side] : 0;
    }
    return { maxWidth: 320, autoPanPaddingTopLeft: L.point(size('.leaflet-top.leaflet-left', 'width') + 10,
                                                           size('.leaflet-top.leaflet-right', 'height') + 10),
             autoPanPaddingBottomRight: L.point(20, 20) };
  }

  // A metric scale only (folium's control_scale adds miles too).
  function metricScale(map) {
    L.control.scale({ metric: true, imperial: false, position: 'bottomleft' }).addTo(map);
  }

  function fitTo(map, bounds) {
    if (bounds) { map.fitBounds(bounds, { padding: [12, 12], animate: false }); }
  }

  // Borders: regency (and district) outlines from our own data, reloaded per zoom.
  function borders(map, cfg, state, layerControl, withDistricts) {
    var regPane = makePane(map, 'sinergi-regencies', 420, false);
    var regencies = L.geoJSON(null, {
      pane: regPane, interactive: false,
      style: { color: '#1b1b1b', weight: 2.4, fill: false, opacity: 0.9 }
    }).addTo(map);
    if (layerControl) { layerControl.addOverlay(regencies, t('regencyBorders')); }
    var districts = null;
    if (withDistricts) {
      var distPane = makePane(map, 'sinergi-districts', 410, false);
      districts = L.geoJSON(null, {
        pane: distPane, interactive: false,
        style: { color: '#4d4d4d', weight: 1.1, dashArray: '4 3', fill: false, opacity: 0.85 }
      }).addTo(map);
      if (layerControl) { layerControl.addOverlay(districts, t('districtBorders')); }
    }
    var loadedZoom = null;
    var seq = { regencies: 0, districts: 0 };
    function load(layer, key, url) {
      var mine = ++seq[key];
      return getJSON(url).then(function (fc) {
        if (mine !== seq[key]) { return; }
        layer.clearLayers();
        layer.addData(fc);
        setBodyState(key + '-loaded', (fc.features || []).length);
      });
    }
    function reload() {
      var z = zoomLevel(map);
      if (z === loadedZoom) { return Promise.resolve(); }
      loadedZoom = z;
      var jobs = [load(regencies, 'regencies', withQuery(cfg.urls.regencies, { zoom: z }))];
      if (districts) {
        jobs.push(load(districts, 'districts', withQuery(cfg.urls.districts, { zoom: z, regency: state.regency })));
      }
      return Promise.all(jobs);
    }
    return { reload: reload, regencies: regencies, districts: districts };
  }

  // --- village map ----------------------------------------------------------------------------
  // programs_0/1/2 follow from the served counts: 0 = not reached, 1 = reached but not 2+,
  // 2 = 2+ but not 3+ (gis.queries.village_measures).
  var DERIVED = {
    programs_0: function (p) { return Number(p.households) - Number(p.reached); },
    programs_1: function (p) { return Number(p.reached) - Number(p.multi_program); },
    programs_2: function (p) { return Number(p.multi_program) - Number(p.programs_3plus); }
  };
  function measureValue(props, measure) {
    if (DERIVED[measure]) {
      var d = DERIVED[measure](props);
      return isNaN(d) ? null : d;
    }
    var v = props[measure];
    return (v === null || v === undefined || v === '') ? null : Number(v);
  }

  function niceUpper(value) {
    if (value <= 10) { return Math.max(1, Math.round(value)); }
    return Math.round(Number(value.toPrecision(2)));
  }

  // Classes for a measure: [{min, max, colour, label}] (max inclusive; Infinity for the last).
  function classesFor(measure, values) {
    var ramp = RAMPS[measure];
    if (measure === 'coverage') {
      return [0, 20, 40, 60, 80].map(function (low, i) {
        return { min: low, max: low + 20, colour: ramp[i], label: num(low) + '–' + num(low + 20) + ' %', pct: true };
      });
    }
    var positive = values.filter(function (v) { return v > 0; }).sort(function (a, b) { return a - b; });
    var classes = [{ min: 0, max: 0, colour: ZERO_COLOUR, label: '0' }];
    if (!positive.length) { return classes; }
    var top = positive[positive.length - 1];
    var uppers = [];
    [0.2, 0.4, 0.6, 0.8].forEach(function (q) {
      var v = niceUpper(positive[Math.min(positive.length - 1, Math.floor(q * positive.length))]);
      if (v < top && uppers.indexOf(v) < 0 && (!uppers.length || v > uppers[uppers.length - 1])) { uppers.push(v); }
    });
    var n = uppers.length + 1;
    var low = 1;
    for (var i = 0; i < n; i++) {
      var high = i < uppers.length ? uppers[i] : Infinity;
      var colour = ramp[n === 1 ? ramp.length - 1 : Math.round(i * (ramp.length - 1) / (n - 1))];
      var label = high === Infinity ? (low === top ? num(low) : '≥ ' + num(low))
        : (low === high ? num(low) : num(low) + '–' + num(high));
      classes.push({ min: low, max: high, colour: colour, label: label });
      low = high + 1;
    }
    return classes;
  }

  function classOf(classes, value) {
    for (var i = 0; i < classes.length; i++) {
      var c = classes[i];
      if (c.pct ? (value >= c.min && (value < c.max || (i === classes.length - 1 && value <= c.max)))
          : (value >= c.min && value <= c.max)) { return c; }
    }
    return null;
  }

  function villageMap(map, cfg, handles) {
    locale = cfg.locale || locale;
    labels = cfg.labels || {};
    var layerControl = handles.layerControl;
    guardBasemap(map, handles.basemap, layerControl);
    fitTo(map, cfg.bounds);
    metricScale(map);
    hideTooltipsUnderPopups(map);

    // snapshot: the "Sumber data" (a targeting snapshot's id; '' = each household's latest data)
    var state = { regency: cfg.regency || '', year: cfg.year, k: cfg.k, measure: cfg.measure,
                  snapshot: cfg.snapshot ? String(cfg.snapshot) : '' };
    // The snapshot of the figures shown ({id, label} as the GeoJSON names it; null: the latest).
    var shownSnapshot = null;
    var status = statusControl(map);
    var classes = null;
    var classesKey = null;
    // The targeting measures (gis/targeting.py), loaded from their own endpoint when one is
    // chosen: {key, fields, snapshots, villages: {village id: [figures in the order of fields]}}.
    var targeting = null;
    var pair = null;  // the snapshots the diff measures compare
    function targetingValue(p, measure) {
      if (!targeting || targeting.key !== targetingKey()) { return null; }
      var i = targeting.fields.indexOf(measure);
      if (i < 0) { return null; }
      var row = targeting.villages[String(p.id)];
      return row ? Number(row[i]) : 0;
    }
    function value(p, measure) {
      return TARGETING[measure] ? targetingValue(p, measure) : measureValue(p, measure);
    }

    var villagePane = makePane(map, 'sinergi-villages', 400, true);
    var zonePane = makePane(map, 'sinergi-zones', 430, true);

    function hasHouseholds(props) { return Number(props.households) > 0; }
    function coloured(p, value) {
      return value !== null && (hasHouseholds(p) || (TARGETING[state.measure] && value > 0));
    }
    function styleFor(feature) {
      var p = feature.properties || {};
      var v = value(p, state.measure);
      var cls = coloured(p, v) && classes ? classOf(classes, v) : null;
      return {
        color: '#6b6b6b', weight: 0.5, opacity: 0.8,
        fillColor: cls ? cls.colour : EMPTY_COLOUR, fillOpacity: cls ? 0.8 : 0.55
      };
    }

    var villages = L.geoJSON(null, {
      pane: villagePane,
      style: styleFor,
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(esc((feature.properties || {}).name), { sticky: true, direction: 'top' });
        layer.on('mouseover', function () { layer.setStyle({ weight: 2, color: '#000' }); });
        layer.on('mouseout', function () { villages.resetStyle(layer); });
        layer.on('click', function (e) {
          L.popup(popupOptions(map)).setLatLng(e.latlng).setContent(villagePopup(feature)).openOn(map);
        });
      }
    }).addTo(map);
    layerControl.addOverlay(villages, t('villages'));

    // The household list filtered by the village's database id (properties.id) and, with a
    // snapshot shown, by that snapshot ("Sumber data" of the list: the households it lists, its
    // desil filters read its desil). The list's village is the household's latest one.
    function householdListLink(p) {
      if (p.id === undefined || p.id === null) { return ''; }
      var names = cfg.householdListArgs || { village: '_flt_0_village' };
      var args = {};
      args[names.village] = p.id;
      if (shownSnapshot && names.snapshot) { args[names.snapshot] = shownSnapshot.id; }
      return '<a class="btn btn-sm btn-primary sinergi-household-list" target="_top" href="' +
        esc(withQuery(cfg.urls.householdList, args)) + '">' + esc(t('openHouseholdList')) + '</a>';
    }

    function villagePopup(feature) {
      var p = feature.properties || {};
      var rows = shownSnapshot ? [[t('dataSource'), shownSnapshot.label]] : [];
      rows = rows.concat([
        [t('households'), num(p.households)],
        [t('m_desil1'), num(p.desil1)],
        [t('reached'), num(p.reached)],
        [t('m_coverage'), num(p.coverage, 1) + (p.coverage !== null && p.coverage !== undefined ? ' %' : '')],
        [t('m_multi_program'), num(p.multi_program)],
        [t('m_programs_0'), num(measureValue(p, 'programs_0'))],
        [t('m_programs_1'), num(measureValue(p, 'programs_1'))],
        [t('m_programs_2'), num(measureValue(p, 'programs_2'))],
        [t('m_programs_3plus'), num(p.programs_3plus)],
        [t('m_gaps', { k: state.k }), num(p.gaps)]
      ]);
      ['desil_exit', 'entered', 'left', 'duplicates'].forEach(function (m) {
        var v = targetingValue(p, m);
        if (v !== null) { rows.push([t('m_' + m), num(v)]); }
      });
      var sub = [p.kind, p.code].filter(Boolean).map(esc).join(' · ');
      var where = [p.district ? t('districtPrefix') + ' ' + p.district : '', p.regency].filter(Boolean).map(esc).join(', ');
      return '<div class="sinergi-popup" data-village-code="' + esc(p.code) + '">' +
        '<h6>' + esc(p.name) + '</h6>' +
        '<div class="sinergi-sub">' + sub + (where ? '<br>' + where : '') + '</div>' +
        '<table><tbody>' + rows.map(function (r) {
          return '<tr><td>' + esc(r[0]) + '</td><td class="num">' + esc(r[1]) + '</td></tr>';
        }).join('') + '</tbody></table>' + householdListLink(p) + targetingLinks(p) + '</div>';
    }

    // Duplicates of the village and the changes between snapshots (when the user may open them).
    function targetingLinks(p) {
      var links = [];
      if (cfg.urls.duplicates && p.id !== undefined && p.id !== null) {
        links.push('<a class="sinergi-village-duplicates" target="_top" href="' +
          esc(withQuery(cfg.urls.duplicates, { village: p.id })) + '">' + esc(t('villageDuplicates')) + '</a>');
      }
      if (cfg.urls.snapshotDiff) {
        // The diff page has no village filter: its village table of the village's regency, and
        // the household list of the kind of change the map shows (desil_exit: those whose desil rose).
        var regency = (cfg.regencies || []).filter(function (r) { return r.code === String(p.code || '').slice(0, 5); })[0];
        var args = pair ? { a: pair.a.id, b: pair.b.id } : {};
        if (regency) { args.regency_id = regency.id; }
        if (DIFF_KINDS[state.measure]) { args.kind = DIFF_KINDS[state.measure]; }
        links.push('<a class="sinergi-snapshot-diff" target="_top" href="' +
          esc(withQuery(cfg.urls.snapshotDiff, args)) + '">' + esc(t('snapshotChanges')) + '</a>');
      }
      return links.length ? '<div class="sinergi-popup-links">' + links.join('<br>') + '</div>' : '';
    }

    // Zones: outlines above the villages (clicking inside a zone still reaches the village).
    var zones = L.geoJSON(null, {
      pane: zonePane,
      style: function (f) {
        var level = Number((f.properties || {}).priority_level);
        return { color: level === 1 ? '#08306b' : '#2171b5', weight: level === 1 ? 3.5 : 2.5,
                 dashArray: '8 5', fill: false, opacity: 0.95 };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties || {};
        layer.bindPopup('<div class="sinergi-popup"><h6>' + esc(p.name) + '</h6><table><tbody>' +
          '<tr><td>' + esc(t('year')) + '</td><td class="num">' + esc(p.year) + '</td></tr>' +
          '<tr><td>' + esc(t('priorityLevel')) + '</td><td class="num">' + esc(p.priority_level) + '</td></tr>' +
          (p.basis ? '<tr><td>' + esc(t('basis')) + '</td><td class="num">' + esc(p.basis) + '</td></tr>' : '') +
          '</tbody></table></div>', popupOptions(map));
        layer.bindTooltip(esc(p.name), { sticky: true });
      }
    }).addTo(map);
    layerControl.addOverlay(zones, t('zones'));

    var border = borders(map, cfg, state, layerControl, true);

    // Legend
    var legendEl;
    control('bottomright', 'sinergi-legend leaflet-control', function (div) { legendEl = div; }).addTo(map);
    function renderLegend() {
      var title = t('m_' + state.measure, { k: state.k });
      var items = (classes || []).map(function (c) {
        return '<li><i style="background:' + c.colour + '"></i><span>' + esc(c.label) + '</span></li>';
      });
      items.push('<li><i style="background:' + EMPTY_COLOUR + ';opacity:.75"></i><span>' + esc(t('noHouseholds')) + '</span></li>');
      items.push('<li><i class="sinergi-line" style="border-color:#08306b;border-top-style:dashed"></i><span>' +
                 esc(t('zones')) + '</span></li>');
      legendEl.setAttribute('data-measure', state.measure);
      var sub = '';
      if (shownSnapshot && !TARGETING[state.measure]) {
        sub = '<div class="sinergi-note sinergi-snapshot-note">' + esc(t('dataSource') + ': ' + shownSnapshot.label) +
          '</div>';
      }
      if (DIFF_KINDS[state.measure] && pair) {
        sub = '<div class="sinergi-note">' + esc(state.measure === 'desil_exit'
          ? t('desilExitNote', { a: pair.a.label, b: pair.b.label })
          : t('snapshotPair', { a: pair.a.label, b: pair.b.label })) +
          (pair.sourcesDiffer ? '<br>' + esc(t('sourcesDiffer')) : '') + '</div>';
      }
      legendEl.innerHTML = '<h6>' + esc(title) + '</h6>' + sub + '<ul>' + items.join('') + '</ul>';
    }

    function recolour() {
      if (TARGETING[state.measure] && !(targeting && targeting.key === targetingKey())) {
        loadTargeting();  // recolours when it arrives
      }
      var key = [state.measure, state.year, state.k, state.regency, state.snapshot,
                 TARGETING[state.measure] && targeting ? targeting.key : ''].join('|');
      if (key !== classesKey) {
        var values = [];
        villages.eachLayer(function (layer) {
          var p = layer.feature.properties || {};
          var v = value(p, state.measure);
          if (coloured(p, v)) { values.push(v); }
        });
        classes = classesFor(state.measure, values);
        classesKey = key;
      }
      villages.setStyle(styleFor);
      renderLegend();
    }

    // Villages, simplified for the zoom by the endpoint; only the view (padded) from BBOX_ZOOM on.
    var loaded = null;   // what the layer holds: {zoom, bbox (null = whole area), key}
    var pending = null;  // the request under way, if any
    var seq = 0;
    function needsReload() {
      var have = pending || loaded;
      if (!have) { return true; }
      if (have.zoom !== zoomLevel(map) || have.key !== dataKey()) { return true; }
      return have.bbox !== null && !have.bbox.contains(map.getBounds());
    }
    function dataKey() { return [state.year, state.k, state.regency, state.snapshot].join('|'); }
    function loadVillages() {
      if (!needsReload()) { return; }
      var zoom = zoomLevel(map);
      var bbox = zoom >= BBOX_ZOOM ? map.getBounds().pad(0.5) : null;
      var key = dataKey();
      var mine = ++seq;
      pending = { zoom: zoom, bbox: bbox, key: key };
      setBodyState('villages-state', 'loading');
      status(t('loadingVillages'));
      getJSON(withQuery(cfg.urls.villages, {
        zoom: zoom, year: state.year, k: state.k, regency: state.regency, bbox: bbox ? bbox.toBBoxString() : '',
        snapshot: state.snapshot
      })).then(function (fc) {
        if (mine !== seq) { return; }
        shownSnapshot = fc.snapshot || null;
        villages.clearLayers();
        villages.addData(fc);
        loaded = pending;
        pending = null;
        var n = (fc.features || []).length;
        recolour();
        status(t('villagesShown', { n: num(n) }));
        setBodyState('villages-loaded', n);
        setBodyState('snapshot-shown', shownSnapshot ? shownSnapshot.id : '');
        setBodyState('villages-state', 'ready');
        openFocused();
      }).catch(function (err) {
        if (mine !== seq) { return; }
        pending = null;
        status(t('loadFailed', { error: err.message }), true);
        setBodyState('villages-state', 'error');
      });
    }
    function targetingKey() { return [state.year, state.regency].join('|'); }
    var targetingPending = null;
    function loadTargeting() {
      var key = targetingKey();
      if (targetingPending === key) { return; }
      targetingPending = key;
      setBodyState('targeting-state', 'loading');
      getJSON(withQuery(cfg.urls.villageTargeting, { year: state.year, regency: state.regency })).then(function (data) {
        if (targetingPending !== key) { return; }
        targetingPending = null;
        targeting = { key: key, fields: data.fields || [], villages: data.villages || {} };
        pair = data.snapshots || null;
        recolour();
        setBodyState('targeting-state', 'ready');
      }).catch(function (err) {
        if (targetingPending !== key) { return; }
        targetingPending = null;
        status(t('loadFailed', { error: err.message }), true);
        setBodyState('targeting-state', 'error');
      });
    }
    var zonesYear = null;
    function loadZones() {
      if (zonesYear === state.year) { return; }
      zonesYear = state.year;
      var year = state.year;
      getJSON(withQuery(cfg.urls.zones, { year: year })).then(function (fc) {
        if (year !== state.year) { return; }
        zones.clearLayers();
        zones.addData(fc);
        setBodyState('zones-loaded', (fc.features || []).length);
      }).catch(function (err) { status(t('loadFailed', { error: err.message }), true); });
    }
    function params() {
      return { regency: cfg.canChooseRegency ? state.regency : '', year: state.year, k: state.k, measure: state.measure,
               snapshot: state.snapshot };
    }

    // Filter panel
    control('topleft', 'sinergi-panel leaflet-control', function (panel) {
      regencyChooser(panel, cfg, state, function (value) {
        state.regency = value;
        reloadWith(params());
      });
      select(panel, 'sinergi-measure', t('colourBy'), cfg.measures, state.measure, function (value) {
        state.measure = value;
        syncUrl(params());
        recolour();
      });
      if ((cfg.snapshots || []).length > 1) {
        // The desil-based measures over one targeting snapshot (BDT 2015, DTSEN 2025-Q4 ...);
        // the changes and duplicates measures do not depend on it.
        select(panel, 'sinergi-snapshot', t('dataSource'), cfg.snapshots, state.snapshot, function (value) {
          state.snapshot = value;
          syncUrl(params());
          loadVillages();
        });
      }
      select(panel, 'sinergi-year', t('year'), cfg.years.map(function (y) { return { value: y, label: String(y) }; }),
        state.year, function (value) {
          state.year = Number(value);
          syncUrl(params());
          loadVillages();
          loadZones();
        });
      var ks = [];
      for (var k = 1; k <= cfg.maxDesil; k++) { ks.push({ value: k, label: t('kOption', { k: k }) }); }
      select(panel, 'sinergi-k', t('gapThreshold'), ks, state.k, function (value) {
        state.k = Number(value);
        syncUrl(params());
        loadVillages();
      });
    }).addTo(map);

    // Village search (name or code, within the map's area): choosing one zooms to it and opens
    // its figures. ?village=<code> in the page's URL (the analysis tables link so) does the same.
    var focusCode = '';
    function villageBounds(v) { return L.latLngBounds([v.bbox[1], v.bbox[0]], [v.bbox[3], v.bbox[2]]); }
    function focusVillage(v) {
      focusCode = v.code;
      map.closePopup();
      map.fitBounds(villageBounds(v), { padding: [40, 40], maxZoom: 13, animate: false });
      // The villages of the new view load first (loadVillages opens the popup when done).
      if (!needsReload()) { openFocused(); }
    }
    function openFocused() {
      var layer = focusCode ? SinergiMaps.current.villageLayer(focusCode) : null;
      if (!layer) { return; }
      var code = focusCode;
      focusCode = '';
      L.popup(popupOptions(map)).setLatLng(layer.getBounds().getCenter()).setContent(villagePopup(layer.feature))
        .openOn(map);
      setBodyState('focused-village', code);
    }
    function searchVillages(text) {
      return getJSON(withQuery(cfg.urls.villageSearch, { q: text, regency: state.regency }))
        .then(function (data) { return data.villages || []; });
    }
    control('topleft', 'sinergi-panel sinergi-search leaflet-control', function (div) {
      var label = L.DomUtil.create('label', '', div);
      label.setAttribute('for', 'sinergi-village-search');
      label.textContent = t('searchVillage');
      var input = L.DomUtil.create('input', 'form-control form-control-sm', div);
      input.id = 'sinergi-village-search';
      input.type = 'search';
      input.autocomplete = 'off';
      input.placeholder = t('searchPlaceholder');
      var list = L.DomUtil.create('ul', 'sinergi-search-results', div);
      list.id = 'sinergi-village-results';
      var run = debounce(function () {
        var text = input.value.trim();
        if (text.length < 2) { list.innerHTML = ''; return; }
        searchVillages(text).then(function (found) {
          if (input.value.trim() !== text) { return; }
          list.innerHTML = '';
          if (!found.length) {
            L.DomUtil.create('li', 'sinergi-none', list).textContent = t('noVillageFound');
          }
          found.forEach(function (v) {
            var a = L.DomUtil.create('a', '', L.DomUtil.create('li', '', list));
            a.href = '#';
            a.setAttribute('data-code', v.code);
            a.textContent = v.name + ' — ' + t('districtPrefix') + ' ' + v.district + ' (' + v.code + ')';
            a.addEventListener('click', function (e) {
              e.preventDefault();
              list.innerHTML = '';
              input.value = v.name;
              focusVillage(v);
            });
          });
        }).catch(function (err) { status(t('loadFailed', { error: err.message }), true); });
      }, 250);
      input.addEventListener('input', run);
      input.addEventListener('keydown', function (e) {
        if (e.key !== 'Enter') { return; }
        e.preventDefault();
        var first = list.querySelector('a');
        if (first) { first.click(); }
      });
    }).addTo(map);
    if (cfg.focus) {
      searchVillages(cfg.focus).then(function (found) {
        var v = found.filter(function (f) { return f.code === cfg.focus; })[0];
        if (v) { focusVillage(v); }
      }).catch(function (err) { status(t('loadFailed', { error: err.message }), true); });
    }

    renderLegend();
    map.on('moveend', debounce(function () { loadVillages(); border.reload(); }, 250));
    loadVillages();
    loadZones();
    border.reload();

    SinergiMaps.current = {
      map: map,
      state: state,
      villages: villages,
      zones: zones,
      features: function () {
        var out = [];
        villages.eachLayer(function (layer) { out.push(layer.feature.properties); });
        return out;
      },
      villageLayer: function (code) {
        var found = null;
        villages.eachLayer(function (layer) { if (layer.feature.properties.code === code) { found = layer; } });
        return found;
      },
      legend: function () { return legendEl; }
    };
    return SinergiMaps.current;
  }

  // --- household map ---------------------------------------------------------------------------
  var householdColouring = 'desil';

  function householdValue(p) {
    if (householdColouring === 'programs') {
      var n = Array.isArray(p.programs) ? p.programs.length : p.programs;
      return (n === null || n === undefined || n === '') ? null : Number(n);
    }
    return (p.desil === null || p.desil === undefined || p.desil === '') ? null : Number(p.desil);
  }
  // The colour classes of the current colouring, in legend order; the last one is "unknown".
  function householdPalette() {
    return (householdColouring === 'programs' ? PROGRAM_COLOURS : DESIL_COLOURS).concat([UNKNOWN_COLOUR]);
  }
  function householdClass(value) {
    var palette = householdPalette();
    if (value === null || isNaN(value)) { return palette.length - 1; }
    if (householdColouring === 'programs') { return Math.min(3, Math.max(0, Math.round(value))); }
    var d = Math.round(value);
    return d >= 1 && d <= DESIL_COLOURS.length ? d - 1 : palette.length - 1;
  }
  function householdColour(value) { return householdPalette()[householdClass(value)]; }

  // Cluster icon: the count inside a ring showing the mix of desil / program counts of its points.
  SinergiMaps.clusterIcon = function (cluster) {
    var markers = cluster.getAllChildMarkers();
    var palette = householdPalette();
    var counts = palette.map(function () { return 0; });
    for (var i = 0; i < markers.length; i++) { counts[markers[i].sinergiClass] += 1; }
    var stops = [];
    var done = 0;
    counts.forEach(function (n, c) {
      if (!n) { return; }
      var from = 100 * done / markers.length;
      done += n;
      stops.push(palette[c] + ' ' + from.toFixed(2) + '% ' + (100 * done / markers.length).toFixed(2) + '%');
    });
    var count = cluster.getChildCount();
    var size = count < 100 ? 36 : count < 1000 ? 42 : count < 10000 ? 50 : 58;
    return L.divIcon({
      html: '<div style="width:' + size + 'px;height:' + size + 'px;background:conic-gradient(' + stops.join(',') +
        ')"><span>' + num(count) + '</span></div>',
      className: 'sinergi-cluster',
      iconSize: L.point(size, size)
    });
  };

  // Vector tiles (gis/tiles.py): from z12 one point per household (desil, programs; the
  // feature id is the household id); below, one point per village with `count` (households)
  // and `desil1` (those in desil 1).
  var RAW_TILE_ZOOM = 12;
  var GROUP_COLOUR = '#54278f';
  function tileCount(p) { return Number(p.count || 1); }
  SinergiMaps.householdTileStyle = function (p) {
    var count = tileCount(p);
    var colour;
    if (p.count !== undefined) {
      colour = householdColouring === 'desil' && p.desil1 !== undefined
        ? RAMPS.desil1[Math.min(4, Math.floor(5 * Number(p.desil1) / Math.max(1, count)))] : GROUP_COLOUR;
    } else {
      colour = householdColour(householdValue(p));
    }
    return {
      radius: count > 1 ? Math.min(12, 3 + 1.8 * Math.log(count)) : 5,  // small: tiles clip at their edge
      fill: true, fillColor: colour, fillOpacity: 0.85,
      color: '#333', weight: count > 1 ? 0.5 : 1, opacity: 0.9
    };
  };

  function householdMap(map, cfg, handles) {
    locale = cfg.locale || locale;
    labels = cfg.labels || {};
    householdColouring = cfg.colour || 'desil';
    DESIL_COLOURS = DESIL_PALETTES[cfg.maxDesil > 4 ? 10 : 4].slice(0, cfg.maxDesil || 4);
    var layerControl = handles.layerControl;
    guardBasemap(map, handles.basemap, layerControl);
    fitTo(map, cfg.bounds);
    metricScale(map);

    // snapshot: the "Sumber data" (a targeting snapshot's id; '' = each household's latest data)
    var state = { regency: cfg.regency || '', year: cfg.year, colour: householdColouring,
                  snapshot: cfg.snapshot ? String(cfg.snapshot) : '' };
    var status = statusControl(map);
    setBodyState('snapshot-shown', state.snapshot);
    var border = borders(map, cfg, state, layerControl, !!state.regency);

    function householdPopup(p) {
      var programs = Array.isArray(p.programs) ? p.programs : null;
      var programCount = programs ? programs.length : p.programs;
      var statusLabel = (cfg.statusLabels || {})[p.location_status] || p.location_status;
      var rows = [
        [t('desil'), p.desil === null || p.desil === undefined ? '–' : p.desil],
        [t('programsInYear', { year: state.year }), num(programCount) +
          (programs && programs.length ? ' (' + programs.join(', ') + ')' : '')],
        [t('noKk'), p.no_kk || '–'],
        [t('locationStatus'), statusLabel || '–']
      ].filter(function (row, i) { return i < 2 || (i === 2 ? p.no_kk !== undefined : p.location_status !== undefined); });
      return '<div class="sinergi-popup" data-household-id="' + esc(p.id) + '">' +
        '<h6>' + esc(t('householdNo', { id: p.id })) + '</h6>' +
        '<table><tbody>' + rows.map(function (r) {
          return '<tr><td>' + esc(r[0]) + '</td><td class="num">' + esc(r[1]) + '</td></tr>';
        }).join('') + '</tbody></table>' +
        '<a class="btn btn-sm btn-primary sinergi-household-show" target="_top" href="' +
        esc(cfg.urls.householdShow.replace('__id__', encodeURIComponent(p.id))) + '">' +
        esc(t('openHousehold')) + '</a></div>';
    }

    // Legend
    var legendEl;
    control('bottomright', 'sinergi-legend leaflet-control', function (div) { legendEl = div; }).addTo(map);
    function renderLegend() {
      var items = [];
      if (householdColouring === 'programs') {
        ['0', '1', '2', '3+'].forEach(function (label, i) {
          items.push('<li><i class="sinergi-dot" style="background:' + PROGRAM_COLOURS[i] + '"></i><span>' +
                     esc(label) + '</span></li>');
        });
      } else {
        DESIL_COLOURS.forEach(function (colour, i) {
          items.push('<li><i class="sinergi-dot" style="background:' + colour + '"></i><span>' +
                     esc(t('desilN', { n: i + 1 })) + '</span></li>');
        });
      }
      items.push('<li><i class="sinergi-dot" style="background:' + UNKNOWN_COLOUR + '"></i><span>' +
                 esc(t('unknown')) + '</span></li>');
      if (cfg.mode === 'tiles') {  // the grouped points below the aggregation zoom
        items.push('<li class="sinergi-legend-sub"><span>' + esc(householdColouring === 'desil'
          ? t('groupsDesil1') : t('groups')) + '</span></li>');
        if (householdColouring === 'desil') {
          RAMPS.desil1.forEach(function (colour, i) {
            items.push('<li><i class="sinergi-dot" style="background:' + colour + '"></i><span>' +
                       num(20 * i) + '–' + num(20 * (i + 1)) + ' %</span></li>');
          });
        } else {
          items.push('<li><i class="sinergi-dot" style="background:' + GROUP_COLOUR + '"></i><span>' +
                     esc(t('groupOfHouseholds')) + '</span></li>');
        }
      }
      legendEl.setAttribute('data-colour', householdColouring);
      legendEl.innerHTML = '<h6>' + esc(householdColouring === 'programs' ? t('legendPrograms', { year: state.year })
        : t('legendDesil')) + '</h6>' + (cfg.snapshotLabel
        ? '<div class="sinergi-note sinergi-snapshot-note">' + esc(t('dataSource') + ': ' + cfg.snapshotLabel) + '</div>'
        : '') + '<ul>' + items.join('') + '</ul><div class="sinergi-note">' +
        esc(cfg.mode === 'cluster' ? t('clusterNote') : t('tilesNote')) + '</div>';
    }

    function params() {
      return { regency: cfg.canChooseRegency ? state.regency : '', year: state.year, colour: state.colour,
               mode: cfg.requestedMode || '', snapshot: state.snapshot };
    }

    var reloadPoints = function () {};
    var recolourPoints = function () {};

    if (cfg.mode === 'cluster' && handles.cluster) {
      var cluster = handles.cluster;
      var markers = [];
      var seq = 0;
      cluster.on('click', function (e) {
        var layer = e.layer;
        L.popup(popupOptions(map)).setLatLng(layer.getLatLng())
          .setContent(householdPopup(layer.feature.properties || {})).openOn(map);
      });
      var loadPage = function (url, mine, loadedSoFar) {
        return getJSON(url).then(function (fc) {
          if (mine !== seq) { return; }
          var batch = [];
          (fc.features || []).forEach(function (f) {
            if (!f.geometry || f.geometry.type !== 'Point') { return; }
            var c = f.geometry.coordinates;
            f.properties = f.properties || {};
            if (f.properties.id === undefined) { f.properties.id = f.id; }
            var value = householdValue(f.properties);
            var m = L.circleMarker([c[1], c[0]], {
              radius: 6, color: '#333', weight: 1, fillColor: householdColour(value), fillOpacity: 0.9
            });
            m.feature = f;
            m.sinergiClass = householdClass(value);
            batch.push(m);
          });
          markers = markers.concat(batch);
          cluster.addLayers(batch);
          var total = loadedSoFar + batch.length;
          setBodyState('households-loaded', total);
          status(t('loadedHouseholds', { n: num(total) }));
          var next = fc.next || (fc.links || []).filter(function (l) { return l.rel === 'next'; }).map(function (l) {
            return l.href;
          })[0];
          if (next && batch.length) { return loadPage(next, mine, total); }
          setBodyState('households-state', 'ready');
          status(t('householdsShown', { n: num(total) }));
          return null;
        });
      };
      reloadPoints = function () {
        var mine = ++seq;
        cluster.clearLayers();
        markers = [];
        setBodyState('households-state', 'loading');
        status(t('loadingHouseholds'));
        // A regency chosen from the province: the households within its extent. A user bound
        // to a regency gets all of theirs (the endpoint's scope), also points lying outside it.
        var bbox = cfg.canChooseRegency && state.regency && cfg.bounds
          ? [cfg.bounds[0][1], cfg.bounds[0][0], cfg.bounds[1][1], cfg.bounds[1][0]].join(',') : '';
        loadPage(withQuery(cfg.urls.households, { year: state.year, limit: PAGE_SIZE, bbox: bbox, snapshot: state.snapshot }),
          mine, 0).catch(function (err) {
          if (mine !== seq) { return; }
          status(t('loadFailed', { error: err.message }), true);
          setBodyState('households-state', 'error');
        });
      };
      recolourPoints = function () {
        markers.forEach(function (m) {
          var value = householdValue(m.feature.properties);
          m.sinergiClass = householdClass(value);
          m.setStyle({ fillColor: householdColour(value) });
        });
        cluster.refreshClusters();
      };
      SinergiMaps.currentCluster = cluster;
    } else if (handles.tiles) {
      var tiles = handles.tiles;
      tiles.on('click', function (e) {
        var p = L.extend({}, (e.layer && e.layer.properties) || {});
        // VectorGrid's point symbols carry no latlng of their own: take the mouse position.
        var latlng = e.originalEvent ? map.mouseEventToLatLng(e.originalEvent) : e.latlng;
        if (p.count !== undefined) {  // a village's group: zoom in to its households
          map.setView(latlng, Math.max(RAW_TILE_ZOOM, map.getZoom() + 1));
          return;
        }
        // After the click has reached the map (which closes open popups on click).
        window.setTimeout(function () {
          L.popup(popupOptions(map)).setLatLng(latlng).setContent(householdPopup(p)).openOn(map);
        }, 0);
      });
      // Leaflet 1.9 asks a clicked point symbol for its latlng (it takes it for a marker); VectorGrid's
      // point symbols know only their pixel in the tile. Teach their class once, from a drawn one.
      var symbolsPatched = false;
      var patchSymbols = function () {
        if (symbolsPatched) { return; }
        Object.keys(tiles._vectorTiles || {}).some(function (key) {
          var drawn = tiles._vectorTiles[key]._features || {};
          return Object.keys(drawn).some(function (id) {
            var proto = Object.getPrototypeOf(drawn[id].feature);
            if (!proto || !proto._makeFeatureParts || typeof proto.getLatLng !== 'function') { return false; }
            var original = proto.getLatLng;
            proto.getLatLng = function () {
              var coord = this._renderer && this._renderer.getCoord && this._renderer.getCoord();
              if (this._latlng || !coord || !this._point) { return original.call(this); }
              var size = tiles.getTileSize();
              return map.unproject(L.point(coord.x * size.x + this._point.x, coord.y * size.y + this._point.y), coord.z);
            };
            symbolsPatched = true;
            return true;
          });
        });
      };
      tiles.on('tileload', patchSymbols);
      tiles.on('loading', function () { setBodyState('households-state', 'loading'); });
      tiles.on('load', function () { patchSymbols(); setBodyState('households-state', 'ready'); status(''); });
      reloadPoints = function () {
        tiles.setUrl(withQuery(cfg.urls.tiles, { year: state.year, snapshot: state.snapshot }));
      };
      recolourPoints = function () { tiles.redraw(); };
      status('');
    }

    control('topleft', 'sinergi-panel leaflet-control', function (panel) {
      regencyChooser(panel, cfg, state, function (value) {
        state.regency = value;
        reloadWith(params());
      });
      select(panel, 'sinergi-colour', t('colourBy'), cfg.colourings, state.colour, function (value) {
        state.colour = householdColouring = value;
        syncUrl(params());
        recolourPoints();
        renderLegend();
      });
      if ((cfg.snapshots || []).length > 1) {
        // The points, desil and villages of one targeting snapshot (BDT 2015, DTSEN 2025-Q4 ...).
        // The page is built again: the number of points (clusters or tiles) and the legend's
        // desil range depend on it.
        select(panel, 'sinergi-snapshot', t('dataSource'), cfg.snapshots, state.snapshot, function (value) {
          state.snapshot = value;
          reloadWith(params());
        });
      }
      select(panel, 'sinergi-year', t('year'), cfg.years.map(function (y) { return { value: y, label: String(y) }; }),
        state.year, function (value) {
          state.year = Number(value);
          syncUrl(params());
          reloadPoints();
          renderLegend();
        });
      var note = L.DomUtil.create('div', 'sinergi-note', panel);
      note.textContent = cfg.mode === 'cluster' ? t('clusterMode') : t('tilesMode', { limit: num(cfg.clusterLimit) });
    }).addTo(map);

    renderLegend();
    map.on('moveend', debounce(function () { border.reload(); }, 250));
    border.reload();
    if (cfg.mode === 'cluster') { reloadPoints(); }

    SinergiMaps.current = {
      map: map, state: state, cluster: handles.cluster, tiles: handles.tiles,
      legend: function () { return legendEl; }
    };
    return SinergiMaps.current;
  }

  SinergiMaps.villageMap = villageMap;
  SinergiMaps.householdMap = householdMap;
  SinergiMaps.classesFor = classesFor;
  window.SinergiMaps = SinergiMaps;
})(window);
