// Job page of the import: poll the JSON status every second, move the progress bar, and
// reload the page when the job has ended (the server then renders the summary and report).
(function () {
  'use strict';
  var box = document.getElementById('import-progress');
  if (!box) { return; }
  var url = box.getAttribute('data-status-url');
  var bar = box.querySelector('.progress-bar');
  var count = document.getElementById('import-count');
  var phase = document.getElementById('import-phase');

  function show(s) {
    var text = (s.progress || 0) + (s.total ? ' / ' + s.total : '') + ' baris';
    count.textContent = text;
    phase.textContent = s.status_label + (s.phase_label ? ': ' + s.phase_label : '') + ' …';
    var percent = s.phase === 'membaca' ? (s.percent || 5) : 100;
    bar.style.width = Math.max(5, percent) + '%';
    box.setAttribute('data-status', s.status);
  }
  function poll() {
    fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        show(s);
        if (s.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
