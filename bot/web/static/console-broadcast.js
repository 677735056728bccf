// Live broadcast progress: polls the page's progress.json every second until it is done.
// Progressive enhancement only: without script the page still shows the counts on reload.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box || box.dataset.finished === "true") return;
  var url = box.dataset.url;
  var names = {};
  var tpl = document.getElementById("status-names");
  if (tpl && tpl.content) {
    tpl.content.querySelectorAll("[data-status]").forEach(function (el) {
      names[el.dataset.status] = el.textContent;
    });
  }
  function set(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }
  function update(p) {
    set("bc-total", p.total);
    set("bc-sent", p.sent);
    set("bc-failed", p.failed);
    set("bc-pending", p.pending);
    set("bc-cancelled", p.cancelled);
    var status = document.getElementById("bc-status");
    if (status) {
      status.dataset.status = p.status;
      status.textContent = names[p.status] || p.status;
    }
    var bar = document.getElementById("bc-bar");
    if (bar) {
      bar.max = p.total || 1;
      bar.value = p.sent + p.failed + p.cancelled;
    }
    if (p.finished) {
      box.dataset.finished = "true";
      var cancel = document.getElementById("cancel-form");
      if (cancel) cancel.remove();
    }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (p) {
        update(p);
        if (!p.finished) window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 3000); // a restarting server: try again a little later
      });
  }
  window.setTimeout(poll, 1000);
})();
