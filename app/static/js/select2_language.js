/* select2's messages in the page's language. FAB's filter and relation widgets use select2
   with its built-in English strings ("Remove all items" on the clear button of every list
   filter); the default language set here applies to every select2 made after it (FAB's ab.js
   initialises its widgets on document ready, later). The strings come translated from the
   server, as data attributes of this script's tag (sinergi_base.html). */
(function () {
  var $ = window.jQuery, tag = document.currentScript;
  if (!$ || !$.fn || !$.fn.select2 || !$.fn.select2.defaults || !tag) { return; }
  var d = tag.dataset;
  $.fn.select2.defaults.set('language', {
    errorLoading: function () { return d.errorLoading; },
    loadingMore: function () { return d.loadingMore; },
    noResults: function () { return d.noResults; },
    searching: function () { return d.searching; },
    removeAllItems: function () { return d.removeAllItems; },
    removeItem: function () { return d.removeItem; },
    search: function () { return d.search; },
    inputTooShort: function (args) { return d.inputTooShort.replace('%n', args.minimum - args.input.length); },
    inputTooLong: function (args) { return d.inputTooLong.replace('%n', args.input.length - args.maximum); },
    maximumSelected: function (args) { return d.maximumSelected.replace('%n', args.maximum); }
  });
})();
