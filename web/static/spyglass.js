// Comfort only: every page works without this file. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  // Select all issues of the stream.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("table.stream input[name=id]").forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () { button.textContent = "Copied"; });
      }
    });
  });

  // Keyboard: j/k move, enter opens, r resolves, i ignores, / searches.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.stream tr.issue"));
  var current = -1;
  function focusRow(index) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("focused");
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("focused");
    rows[current].scrollIntoView({ block: "nearest" });
  }
  function act(action) {
    if (current < 0) return;
    document.querySelectorAll("table.stream input[name=id]").forEach(function (box) { box.checked = false; });
    rows[current].querySelector("input[name=id]").checked = true;
    var button = document.querySelector("#stream button[name=action][value=" + action + "]");
    if (button) button.click();
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    switch (event.key) {
      case "j": focusRow(current + 1); break;
      case "k": focusRow(current - 1); break;
      case "Enter": if (current >= 0) window.location.href = rows[current].getAttribute("data-url"); break;
      case "r": act("resolve"); break;
      case "i": act("ignore"); break;
      case "/":
        var search = document.getElementById("search");
        if (search) { event.preventDefault(); search.focus(); search.select(); }
        break;
      default: return;
    }
  });

  // Live: "N new events — refresh", polled every 10 seconds.
  var live = document.getElementById("live");
  if (live && window.fetch) {
    var url = live.getAttribute("data-poll");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body && body.count > 0) {
            document.getElementById("live-count").textContent = String(body.count);
            live.hidden = false;
          }
        })
        .catch(function () {});
    };
    setInterval(poll, 10000);
  }
})();
