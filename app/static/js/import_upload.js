// Upload page of the import: refuse a file over the upload limit before sending it (the server
// answers 413 too, but a browser may show a reset connection instead of that page), and stop a
// second click while the file is on its way.
(function () {
  'use strict';
  var form = document.getElementById('import-form');
  if (!form) { return; }
  var input = document.getElementById('file');
  var message = document.getElementById('import-size-error');
  var button = document.getElementById('import-submit');
  var limit = parseInt(form.getAttribute('data-max-bytes'), 10) || 0;

  function tooLarge() {
    return limit && input.files && input.files.length && input.files[0].size > limit;
  }
  function show(text) {
    message.textContent = text;
    message.classList.toggle('hidden', !text);
  }
  input.addEventListener('change', function () {
    show(tooLarge() ? form.getAttribute('data-too-large-text') : '');
  });
  form.addEventListener('submit', function (event) {
    if (tooLarge()) {
      event.preventDefault();
      show(form.getAttribute('data-too-large-text'));
      return;
    }
    button.disabled = true;
  });
}());
