// The case list without reloads: a type-to-filter box over the long selects (regions,
// departments; without script they are plain selects), and "select all on this page"
// with a count of the selected cases for the bulk actions.
(function () {
  "use strict";

  function searchable(select) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "option-search";
    box.placeholder = select.getAttribute("data-searchable") || "";
    box.setAttribute("aria-label", box.placeholder);
    box.id = (select.id || select.name) + "-search";
    box.addEventListener("input", function () {
      var words = box.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.options, function (option) {
        var text = (option.text + " " + option.value).toLowerCase();
        option.hidden = words !== "" && !option.selected && text.indexOf(words) === -1;
      });
    });
    // Enter in the box filters the options; it does not submit the filter form
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
    select.parentNode.insertBefore(box, select);
  }
  Array.prototype.forEach.call(document.querySelectorAll("select[data-searchable]"), searchable);

  var all = document.getElementById("select-all");
  var count = document.getElementById("selected-count");
  var picks = document.querySelectorAll("input.pick[name=case]");
  if (!all || !picks.length) { return; }
  all.hidden = false;

  function update() {
    var n = Array.prototype.filter.call(picks, function (p) { return p.checked; }).length;
    all.checked = n === picks.length;
    all.indeterminate = n > 0 && n < picks.length;
    if (count) { count.textContent = count.getAttribute("data-template").replace("{n}", n); }
  }
  all.addEventListener("change", function () {
    Array.prototype.forEach.call(picks, function (p) { p.checked = all.checked; });
    update();
  });
  Array.prototype.forEach.call(picks, function (p) { p.addEventListener("change", update); });
  update();
}());
