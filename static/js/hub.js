// Progressive enhancement only: every page works without this file (CSP forbids inline script).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("DOMContentLoaded", function () {
    // Selects that submit their form on change (language switcher); the button stays for no-JS.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) { select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit(); }
      });
    });

    // Copy buttons next to snippets and the one-time secret.
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy-target"));
        if (!target || !navigator.clipboard) { return; }
        var text = target.value !== undefined && target.tagName === "INPUT" ? target.value : target.textContent;
        navigator.clipboard.writeText(text).then(function () {
          var label = button.textContent;
          button.textContent = button.getAttribute("data-copied") || "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        });
      });
    });

    // Tabs for "Use this model" snippets: without JS all panels show, one after another.
    document.querySelectorAll("[data-tabs]").forEach(function (box) {
      var buttons = box.querySelectorAll("[role=tab]");
      var panels = box.querySelectorAll("[role=tabpanel]");
      function show(index) {
        buttons.forEach(function (b, i) { b.setAttribute("aria-selected", i === index ? "true" : "false"); });
        panels.forEach(function (p, i) { p.hidden = i !== index; });
      }
      buttons.forEach(function (b, i) { b.hidden = false; b.addEventListener("click", function () { show(i); }); });
      if (buttons.length) { show(0); }
    });

    // Organisation filter: suggestions from the hub as the user types (without JS the datalist holds the most
    // common ones, and any name can be typed).
    document.querySelectorAll("input[data-suggest]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      var timer = null;
      var asked = null;
      if (!list || !window.fetch) { return; }
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          var text = input.value.trim();
          if (text === asked) { return; }
          asked = text;
          fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(text),
                { headers: { "Accept": "application/json" }, credentials: "same-origin" })
            .then(function (response) { return response.ok ? response.json() : { results: [] }; })
            .then(function (data) {
              if (text !== asked) { return; }  // a newer question is on its way
              list.textContent = "";
              (data.results || []).forEach(function (item) {
                var option = document.createElement("option");
                option.value = item.value;
                option.label = item.value + " (" + item.count + ")";
                list.appendChild(option);
              });
            })
            .catch(function () { /* suggestions are a convenience: typing still works */ });
        }, 150);
      });
    });

    // Confirm before revoking a key.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
