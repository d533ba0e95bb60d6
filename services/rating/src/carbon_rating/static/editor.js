// Scheme editor: as the form changes, ask the server for the preview of the unsaved form and the field
// errors (POST .../live), and put them in place. Nothing is saved until "Validate and save".
(function () {
  "use strict";
  var form = document.getElementById("scheme-form");
  var panel = document.getElementById("preview");
  if (!form || !panel) { return; }
  var timer = null;
  var sequence = 0;

  function showErrors(errors) {
    var spans = form.querySelectorAll(".field-error[data-for]");
    for (var i = 0; i < spans.length; i++) {
      var span = spans[i];
      var messages = errors[span.getAttribute("data-for")] || [];
      span.textContent = messages.join("; ");
      var input = document.getElementById(span.id.replace(/^e-/, "f-"));
      if (input) {
        if (messages.length) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      }
    }
  }

  function refresh() {
    var mine = ++sequence;
    panel.setAttribute("aria-busy", "true");
    var body = new URLSearchParams(new FormData(form));
    fetch(form.getAttribute("data-live"), {method: "POST", body: body, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (mine !== sequence) { return; }  // a newer request is on its way
        showErrors(answer.errors || {});
        if (answer.html) { panel.innerHTML = answer.html; }
        var mirror = document.getElementById("moved-mirror");
        if (mirror) { mirror.textContent = answer.moved === null || answer.moved === undefined ? "–" : String(answer.moved); }
        panel.setAttribute("data-state", Object.keys(answer.errors || {}).length ? "invalid" : "fresh");
        panel.setAttribute("data-sequence", String(mine));
        panel.removeAttribute("aria-busy");
      })
      .catch(function () { panel.removeAttribute("aria-busy"); panel.setAttribute("data-state", "failed"); });
  }

  function schedule() {
    panel.setAttribute("data-state", "pending");
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // the indicator to chart is chosen inside the panel, which is replaced: listen on the panel
  panel.addEventListener("change", function (event) {
    if (event.target && event.target.id === "chart-indicator") { refresh(); }
  });
})();
