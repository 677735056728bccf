// 常用语: each canned text listed above a console text field gets an "insert" button that
// puts the text at the cursor of that field (or appends it), then closes the list.
// Without JavaScript the list stays a plain list of texts to select and copy.
// Also opens the action a link points to (我的待办's "next step": #action-answer).
(function () {
  "use strict";
  var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (target && target.tagName === "DETAILS") { target.open = true; }
  Array.prototype.forEach.call(document.querySelectorAll("details.canned"), function (box) {
    var field = document.getElementById(box.getAttribute("data-target"));
    if (!field) { return; }
    Array.prototype.forEach.call(box.querySelectorAll("button.canned-insert"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-text") || "";
        var start = field.selectionStart, end = field.selectionEnd;
        if (typeof start === "number" && document.activeElement === field) {
          field.value = field.value.slice(0, start) + text + field.value.slice(end);
        } else {
          field.value = field.value ? field.value + "\n" + text : text;
        }
        box.open = false;
        field.focus();
        field.dispatchEvent(new Event("input", { bubbles: true }));  // the draft keeps it
      });
    });
  });
})();
