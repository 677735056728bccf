// 常用语: a choice of canned texts above a console text field; picking one puts the text
// at the cursor of that field (or after what is there). Without JavaScript the page shows
// the texts as a plain list to select and copy instead (<noscript>).
// Also opens the action a link points to (我的待办's "next step": #action-answer).
(function () {
  "use strict";
  var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (target && target.tagName === "DETAILS") { target.open = true; }

  Array.prototype.forEach.call(document.querySelectorAll("select.canned-pick"), function (pick) {
    var field = document.getElementById(pick.getAttribute("data-target"));
    if (!field) { return; }
    var cursor = null;  // where the cursor was when the field was left for the choice
    field.addEventListener("blur", function () { cursor = [field.selectionStart, field.selectionEnd]; });
    pick.hidden = false;
    pick.addEventListener("change", function () {
      var option = pick.options[pick.selectedIndex];
      var text = option ? option.getAttribute("data-text") || "" : "";
      pick.selectedIndex = 0;
      if (!text) { return; }
      if (cursor && field.value) {
        field.value = field.value.slice(0, cursor[0]) + text + field.value.slice(cursor[1]);
      } else {
        field.value = field.value ? field.value + "\n" + text : text;
      }
      field.focus();
      field.dispatchEvent(new Event("input", { bubbles: true }));  // the draft keeps it
    });
  });
})();
