// List filters whose choices load on demand (app/views/remote_filters.py): every
// <select class="sinergi-remote-select"> becomes a Select2 that asks its data-choices-url
// for ?q=<typed text>&page=<n> (20 at a time) instead of carrying every choice in the page.
// FAB's filter script (ab_filters.js) inserts the field when a filter is added or restored,
// so the filter form is watched and each new field is set up once.
(function ($) {
  "use strict";
  if (!$ || !$.fn || !$.fn.select2) { return; }

  function setUp(el) {
    if (el.getAttribute("data-remote-ready")) { return; }
    el.setAttribute("data-remote-ready", "1");
    var d = el.dataset;
    $(el).select2({
      theme: "bootstrap",
      width: "100%",
      placeholder: d.placeholder,
      allowClear: d.allowClear === "1",  // a page filter where no choice means "all"
      minimumInputLength: 0,
      ajax: {
        url: d.choicesUrl,
        dataType: "json",
        delay: 250,
        cache: true,
        data: function (params) { return {q: params.term || "", page: params.page || 1}; }
      },
      language: {
        searching: function () { return d.searching; },
        noResults: function () { return d.noResults; },
        errorLoading: function () { return d.error; },
        loadingMore: function () { return d.loadingMore; }
      }
    });
  }

  function setUpAll(root) {
    $(root).find("select.sinergi-remote-select").each(function () { setUp(this); });
  }

  $(function () {
    setUpAll(document);
    var form = document.getElementById("filter_form");
    if (form && window.MutationObserver) {
      new MutationObserver(function () { setUpAll(form); }).observe(form, {childList: true, subtree: true});
    }
  });
})(window.jQuery);
