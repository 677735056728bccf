// Typed text survives a refused submit: every console form's text fields are kept in
// sessionStorage (this tab only) while staff type, restored when the page is shown again
// (after a new login when the session expired, or a refused CSRF check), and forgotten
// once the console confirms the action (a "flash ok" message).
(function () {
  "use strict";
  var PREFIX = "xf-draft:";
  var PENDING = "xf-draft-pending";
  var store;
  try { store = window.sessionStorage; } catch (e) { return; }
  if (!store) { return; }

  function forms() {
    return Array.prototype.filter.call(document.querySelectorAll("form[method=post]"), function (f) {
      var action = f.getAttribute("action") || "";
      return action.indexOf("/staff/logout") === -1 && action.indexOf("/staff/login") === -1;
    });
  }
  function fields(form) {
    return form.querySelectorAll("textarea[name], input[type=text][name], input[type=number][name], input:not([type])[name]");
  }
  function key(form, field) { return PREFIX + form.getAttribute("action") + "#" + field.name; }

  var ok = document.querySelector("p.flash.ok");
  var pending = store.getItem(PENDING);
  if (pending && ok) {  // the action went through: its draft is done
    Object.keys(store).forEach(function (k) {
      if (k.indexOf(PREFIX + pending + "#") === 0) { store.removeItem(k); }
    });
    store.removeItem(PENDING);
  }

  forms().forEach(function (form) {
    var restored = false;
    Array.prototype.forEach.call(fields(form), function (field) {
      var saved = store.getItem(key(form, field));
      if (saved !== null && saved !== "" && saved !== field.value) {
        field.value = saved;
        restored = true;
      }
      field.addEventListener("input", function () { store.setItem(key(form, field), field.value); });
    });
    if (restored) {
      var details = form.closest("details");
      if (details) { details.open = true; }
      form.classList.add("restored");
    }
    form.addEventListener("submit", function () { store.setItem(PENDING, form.getAttribute("action")); });
  });
})();
