/* The home dashboard: the poverty-rate chart (Chart.js, vendored) and the small village map
   (Leaflet, vendored). Data comes from the JSON block #dashboard-data written by home.html;
   villages from the app's own /gis/geojson/villages. No request leaves the app unless a base
   map URL is configured. */
(function () {
  "use strict";
  var block = document.getElementById("dashboard-data");
  if (!block) { return; }
  var data = JSON.parse(block.textContent);
  var labels = data.labels || {};
  var lang = document.documentElement.lang || "id";

  function number(value, digits) {
    return Number(value).toLocaleString(lang, {minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0});
  }

  // --- poverty rate against the RPJMD target ---------------------------------------------
  var canvas = document.getElementById("dashboard-chart");
  if (canvas && window.Chart && data.chart && data.chart.labels.length) {
    var colours = ["#c0392b", "#2c5282", "#8e44ad", "#16a085"];
    var datasets = data.chart.datasets.map(function (d, i) {
      var colour = colours[Math.floor(i / 2) % colours.length];
      var target = d.kind === "target";
      return {
        label: d.label, data: d.data, borderColor: colour, backgroundColor: colour,
        borderDash: target ? [6, 4] : [], borderWidth: target ? 2 : 3, pointRadius: target ? 2 : 4, pointStyle: target ? "rectRot" : "circle",
        spanGaps: true, tension: 0.15
      };
    });
    canvas.chart = new window.Chart(canvas, {
      type: "line",
      data: {labels: data.chart.labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        scales: {y: {title: {display: true, text: labels.rate}, ticks: {callback: function (v) { return number(v, 1); }}}},
        plugins: {
          legend: {position: "bottom", labels: {boxWidth: 18}},
          tooltip: {callbacks: {label: function (c) {
            return c.dataset.label + ": " + (c.parsed.y === null ? "–" : number(c.parsed.y, 2));
          }}}
        }
      }
    });
    canvas.setAttribute("data-ready", "1");
  }

  // --- village map ---------------------------------------------------------------------------
  var mapBox = document.getElementById("dashboard-map");
  var status = document.getElementById("dashboard-map-status");
  if (!mapBox || !window.L || !data.map_url) { return; }
  var map = window.L.map(mapBox, {zoomSnap: 0.25, attributionControl: Boolean(data.basemap)});
  map.setView([-4.9, 105.2], 7);
  if (data.basemap) {
    window.L.tileLayer(data.basemap, {maxZoom: 18, attribution: data.attribution || ""}).addTo(map);
  }
  var steps = [[80, "#1a9850"], [60, "#91cf60"], [40, "#fee08b"], [20, "#fc8d59"], [0, "#d73027"]];

  function colour(p) {
    if (!p.households) { return "#d9d9d9"; }
    for (var i = 0; i < steps.length; i++) { if (p.coverage >= steps[i][0]) { return steps[i][1]; } }
    return steps[steps.length - 1][1];
  }

  function escape(text) {
    var div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  fetch(data.map_url, {credentials: "same-origin", headers: {Accept: "application/geo+json"}})
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (geojson) {
      var layer = window.L.geoJSON(geojson, {
        style: function (f) {
          return {color: "#555", weight: 0.3, fillColor: colour(f.properties), fillOpacity: f.properties.households ? 0.8 : 0.35};
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          var html = "<strong>" + escape(p.name) + "</strong><br>" + escape(p.district || "") +
            (p.households ? "<br>" + escape(labels.households) + ": " + number(p.households) +
              "<br>" + escape(labels.reached) + ": " + number(p.reached) + " (" + number(p.coverage, 1) + " %)" +
              "<br>" + escape(labels.gaps) + ": " + number(p.gaps) : "<br>" + escape(labels.none));
          l.bindTooltip(html, {sticky: true});
        }
      }).addTo(map);
      var bounds = layer.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, {padding: [4, 4]}); }
      var legend = window.L.control({position: "bottomright"});
      legend.onAdd = function () {
        var div = window.L.DomUtil.create("div", "sinergi-legend");
        var html = "<strong>" + escape(labels.legend) + "</strong><br>";
        for (var i = steps.length - 1; i >= 0; i--) {
          var upper = i === 0 ? 100 : steps[i - 1][0];
          html += '<i style="background:' + steps[i][1] + '"></i>' + steps[i][0] + "–" + upper + "<br>";
        }
        html += '<i style="background:#d9d9d9"></i>' + escape(labels.none);
        div.innerHTML = html;
        return div;
      };
      legend.addTo(map);
      mapBox.setAttribute("data-villages", String((geojson.features || []).length));
      if (status) { status.parentNode.removeChild(status); }
    })
    .catch(function (error) {
      if (status) { status.textContent = String(error); }
    });
}());
