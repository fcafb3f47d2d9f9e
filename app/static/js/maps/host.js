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
