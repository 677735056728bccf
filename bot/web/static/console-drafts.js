// Typed text survives a refused submit and a reload: every console form's text fields are
// kept while staff type, restored when the page is shown again (after a new login when the
// session expired, a refused CSRF check, or a reload), and forgotten once the console
// confirms the action (a "flash ok" message). Text typed on a case page is kept in
// localStorage per signed-in account, case and field (a long answer outlives the tab);
// other forms' text in sessionStorage (this tab only).
(function () {
  "use strict";
  var PREFIX = "xf-draft:";
  var PENDING = "xf-draft-pending";
  var CASE_FORM = /^\/staff\/cases\/[^\/]+\/actions\//;
  var session, local;
  try { session = window.sessionStorage; } catch (e) { session = null; }
  try { local = window.localStorage; } catch (e) { local = null; }
  if (!session) { return; }
  var meta = document.querySelector("meta[name=xf-staff]");
  var who = meta ? meta.getAttribute("content") : (session.getItem("xf-draft-who") || "");
  if (meta) { session.setItem("xf-draft-who", who); }

  function forms() {
    return Array.prototype.filter.call(document.querySelectorAll("form[method=post]"), function (f) {
      var action = f.getAttribute("action") || "";
      return action.indexOf("/staff/logout") === -1 && action.indexOf("/staff/login") === -1;
    });
  }
  function fields(form) {
    return form.querySelectorAll("textarea[name], input[type=text][name], input[type=number][name], input:not([type])[name]");
  }
  function storeOf(action) { return (local && CASE_FORM.test(action)) ? local : session; }
  function prefix(action) {
    return PREFIX + (storeOf(action) === local ? who + "@" : "") + action + "#";
  }
  function forget(store, start) {
    if (!store) { return; }
    Object.keys(store).forEach(function (k) { if (k.indexOf(start) === 0) { store.removeItem(k); } });
  }

  var ok = document.querySelector("p.flash.ok");
  var pending = session.getItem(PENDING);
  if (pending && ok) {  // the action went through: its draft is done
    forget(session, PREFIX + pending + "#");
    forget(local, PREFIX + who + "@" + pending + "#");
    session.removeItem(PENDING);
  }

  forms().forEach(function (form) {
    var action = form.getAttribute("action") || "";
    var store = storeOf(action);
    var restored = false;
    Array.prototype.forEach.call(fields(form), function (field) {
      var key = prefix(action) + field.name;
      var saved = store.getItem(key);
      if (saved !== null && saved !== "" && saved !== field.value) {
        field.value = saved;
        restored = true;
      }
      field.addEventListener("input", function () {
        try {
          if (field.value) { store.setItem(key, field.value); } else { store.removeItem(key); }
        } catch (e) { /* storage full: the text stays in the field */ }
      });
    });
    if (restored) {
      var details = form.closest("details");
      if (details) { details.open = true; }
      form.classList.add("restored");
    }
    form.addEventListener("submit", function () { session.setItem(PENDING, action); });
  });
})();
