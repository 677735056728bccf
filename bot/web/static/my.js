/* The citizen's case page: the 大字 (large text) toggle, shared with the web chat.
   Loaded in <head> without defer so the chosen size applies before the first paint. */
(function () {
  "use strict";
  var KEY = "xinfang.chat.size"; // the web chat's key: one choice for both pages
  function get() {
    try { return window.localStorage.getItem(KEY); } catch (_) { return null; }
  }
  function set(value) {
    try {
      if (value) window.localStorage.setItem(KEY, value);
      else window.localStorage.removeItem(KEY);
    } catch (_) { /* private mode: the choice lasts this page only */ }
  }
  var root = document.documentElement;
  root.classList.toggle("large", get() === "large");

  function render(button) {
    var large = root.classList.contains("large");
    button.textContent = large ? button.dataset.normal : button.dataset.large;
    button.setAttribute("aria-pressed", large ? "true" : "false");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("size-toggle");
    if (!button) return;
    render(button);
    button.addEventListener("click", function () {
      var large = !root.classList.contains("large");
      root.classList.toggle("large", large);
      set(large ? "large" : "");
      render(button);
    });
  });
})();
