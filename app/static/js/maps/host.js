// The FAB page around a map: the iframe takes the height left in the window, so the whole
// map is visible without scrolling the page (re-measured once fonts and the menu have settled).
(function () {
  var frame = document.getElementById('sinergi-map-frame');
  if (!frame) { return; }
  function fit() {
    var top = frame.getBoundingClientRect().top + window.pageYOffset;
    frame.style.height = Math.max(420, window.innerHeight - top - 12) + 'px';
  }
  window.addEventListener('resize', fit);
  window.addEventListener('load', fit);
  if (window.ResizeObserver) { new ResizeObserver(fit).observe(document.body); }
  fit();
})();

// Download links of the map's layers (gis/geo_export.py): the filters change inside the iframe,
// so on click the link takes the map's current regency / year / k / Sumber data (or, before the map has
// started, those the page's own URL carries).
(function () {
  var links = document.querySelectorAll('a[data-sinergi-export]');
  if (!links.length) { return; }
  function currentFilters() {
    var params = {};
    try {
      var frame = document.getElementById('sinergi-map-frame');
      var maps = frame && frame.contentWindow && frame.contentWindow.SinergiMaps;
      var state = maps && maps.current && maps.current.state;
      if (state) {
        ['regency', 'year', 'k', 'snapshot'].forEach(function (key) { params[key] = state[key]; });
        return params;
      }
    } catch (e) { /* not our frame: fall back to the page's URL */ }
    var search = new URLSearchParams(window.location.search);
    ['regency', 'year', 'k', 'snapshot'].forEach(function (key) { params[key] = search.get(key); });
    return params;
  }
  function refresh(link) {
    var params = currentFilters();
    var qs = Object.keys(params).filter(function (key) {
      return params[key] !== null && params[key] !== undefined && params[key] !== '';
    }).map(function (key) {
      return encodeURIComponent(key) + '=' + encodeURIComponent(params[key]);
    }).join('&');
    link.href = link.getAttribute('data-sinergi-export') + (qs ? '?' + qs : '');
  }
  Array.prototype.forEach.call(links, function (link) {
    // mousedown/focus too, so "copy link" and middle-click get the current filters as well
    ['mousedown', 'focus', 'click'].forEach(function (type) {
      link.addEventListener(type, function () { refresh(link); });
    });
  });
})();
