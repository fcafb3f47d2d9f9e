// Zone form helper: pick a kecamatan and add all its villages to the zone's villages at
// once (each village option carries data-group / data-group-label, its kecamatan).
(function () {
  'use strict';
  var select = document.getElementById('source_villages');
  var text = document.getElementById('zone-form-text');
  if (!select || !text) { return; }
  var groups = [];
  var seen = {};
  Array.prototype.forEach.call(select.options, function (option) {
    var key = option.getAttribute('data-group');
    if (key && !seen[key]) {
      seen[key] = true;
      groups.push({ key: key, label: option.getAttribute('data-group-label') || key });
    }
  });
  if (!groups.length) { return; }
  groups.sort(function (a, b) { return a.label.localeCompare(b.label); });

  var box = document.createElement('div');
  box.className = 'form-inline sinergi-group-picker';
  box.style.marginTop = '6px';
  var label = document.createElement('label');
  label.textContent = text.getAttribute('data-district-label') + ' ';
  label.setAttribute('for', 'zone-district');
  label.style.marginRight = '6px';
  label.style.fontWeight = 'normal';
  var picker = document.createElement('select');
  picker.id = 'zone-district';
  picker.className = 'form-control input-sm';
  var blank = document.createElement('option');
  blank.value = '';
  blank.textContent = text.getAttribute('data-choose-label');
  picker.appendChild(blank);
  groups.forEach(function (group) {
    var option = document.createElement('option');
    option.value = group.key;
    option.textContent = group.label;
    picker.appendChild(option);
  });
  var button = document.createElement('button');
  button.type = 'button';
  button.id = 'zone-district-add';
  button.className = 'btn btn-default btn-sm';
  button.textContent = text.getAttribute('data-add-label');
  button.style.marginLeft = '4px';
  button.addEventListener('click', function () {
    if (!picker.value) { return; }
    Array.prototype.forEach.call(select.options, function (option) {
      if (option.getAttribute('data-group') === picker.value) { option.selected = true; }
    });
    // FAB's Select2 listens through jQuery.
    if (window.jQuery) { window.jQuery(select).trigger('change'); }
    else { select.dispatchEvent(new Event('change')); }
  });
  box.appendChild(label);
  box.appendChild(picker);
  box.appendChild(button);
  // After the Select2 box (a sibling of the hidden select) and before the help text.
  var anchor = select.nextElementSibling && select.nextElementSibling.classList.contains('select2')
    ? select.nextElementSibling : select;
  anchor.parentNode.insertBefore(box, anchor.nextSibling);
})();
