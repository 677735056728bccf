// The registration page: show a question only when the intake form asks it, given the
// answers above it (the form's own conditions, as data: the server checks them again).
(function () {
  "use strict";
  var form = document.getElementById("register-form");
  if (!form) return;
  var prefix = "a.";

  function value(field) {
    var input = form.elements[prefix + field];
    var question = form.querySelector('.question[data-field="' + field + '"]');
    if (!input || input.value === "" || (question && question.hidden)) return null;
    if (input.type === "number") return Number(input.value);
    return input.value;
  }

  function holds(cond) {
    if (cond.all) return cond.all.every(holds);
    if (cond.any) return cond.any.some(holds);
    if (cond.not) return !holds(cond.not);
    var v = value(cond.field);
    if ("answered" in cond) return (v !== null) === cond.answered;
    if (v === null) return false;
    if ("eq" in cond) return v === cond.eq;
    if ("ne" in cond) return v !== cond.ne;
    if ("in" in cond) return cond.in.indexOf(v) >= 0;
    if ("not_in" in cond) return cond.not_in.indexOf(v) < 0;
    if (typeof v !== "number") return false;
    if ("gte" in cond) return v >= cond.gte;
    if ("gt" in cond) return v > cond.gt;
    if ("lte" in cond) return v <= cond.lte;
    return v < cond.lt;
  }

  function refresh() {
    form.querySelectorAll(".question[data-when]").forEach(function (q) {
      q.hidden = !holds(JSON.parse(q.getAttribute("data-when")));
    });
  }

  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  refresh();
})();
