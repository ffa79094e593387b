// Comfort only: every page works without this file. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";

  // Forms that come back to this page (the theme button) learn where it is.
  document.querySelectorAll("input.return-here").forEach(function (input) {
    input.value = window.location.pathname + window.location.search;
  });

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

  // The query box suggests keys and values for the word being typed: the datalist offers the query with that
  // word completed (the server lists the language's keys and the tags seen most in data-suggestions).
  var searchBox = document.getElementById("search");
  var suggestionList = document.getElementById("search-suggestions");
  if (searchBox && suggestionList) {
    var known = (suggestionList.getAttribute("data-suggestions") || "").split("\n").filter(function (text) { return text; });
    var suggest = function () {
      var text = searchBox.value;
      var cut = Math.max(text.lastIndexOf(" "), text.lastIndexOf("("));
      var prefix = text.slice(0, cut + 1);
      var word = text.slice(cut + 1);
      var negated = word.charAt(0) === "!" ? "!" : "";
      var typed = word.slice(negated.length).toLowerCase();
      while (suggestionList.firstChild) suggestionList.removeChild(suggestionList.firstChild);
      if (!typed) return;
      known.filter(function (candidate) {
        return candidate.toLowerCase().indexOf(typed) === 0 && candidate.toLowerCase() !== typed;
      }).slice(0, 20).forEach(function (candidate) {
        var option = document.createElement("option");
        option.value = prefix + negated + candidate;
        suggestionList.appendChild(option);
      });
    };
    searchBox.addEventListener("input", suggest);
    suggest();
  }

  // Times in the reader's time zone: absolute ones ("… UTC") are rewritten, with the UTC time on hover; relative
  // ones ("3 min ago") keep their text and show both times on hover.
  function pad(number) { return (number < 10 ? "0" : "") + number; }
  function localText(date) {
    var zone = "";
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      parts.forEach(function (part) { if (part.type === "timeZoneName") zone = " " + part.value; });
    } catch (error) { zone = ""; }
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + zone;
  }
  function utcText(date) { return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"); }
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var date = new Date(element.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    var text = element.textContent.trim();
    if (/ UTC$/.test(text)) {
      element.textContent = localText(date);
      element.setAttribute("title", text);
      element.classList.add("local");
    } else {
      element.setAttribute("title", localText(date) + " · " + utcText(date));
    }
  });

  // Stack traces: most recent call first (as rendered) or oldest first, remembered in this browser.
  var order = document.getElementById("frames-order");
  if (order) {
    var oldestFirst = false;
    var setOrder = function (wanted) {
      if (wanted !== oldestFirst) {
        document.querySelectorAll("ol.frames").forEach(function (list) {
          Array.prototype.slice.call(list.children).reverse().forEach(function (item) { list.appendChild(item); });
        });
        oldestFirst = wanted;
      }
      order.textContent = oldestFirst ? "Most recent call first" : "Oldest call first";
      try { window.localStorage.setItem("spyglass.frames", oldestFirst ? "oldest" : "newest"); } catch (error) { /* private mode */ }
    };
    order.hidden = false;
    order.addEventListener("click", function () { setOrder(!oldestFirst); });
    var stored = null;
    try { stored = window.localStorage.getItem("spyglass.frames"); } catch (error) { stored = null; }
    setOrder(stored === "oldest");
  }

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

  // Logs, live: while the box is ticked, the lines stored since the newest shown are added at the top every 2 s,
  // up to 100 a poll; a full poll is followed by the next at once, so a burst is caught up. The table keeps the
  // newest 1 000 rows (a tail left open for hours would otherwise hold every line in the page).
  var lines = document.getElementById("log-lines");
  var liveBox = document.getElementById("log-live");
  if (lines && liveBox && window.fetch) {
    var pageSize = 100, keptRows = 1000, timer = null;
    var schedule = function (ms) {
      clearTimeout(timer);
      timer = setTimeout(tail, ms);
    };
    var tail = function () {
      if (!liveBox.checked) return schedule(2000);
      fetch(lines.getAttribute("data-tail") + "&after=" + encodeURIComponent(lines.getAttribute("data-newest")),
            { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          var body = lines.tBodies[0];
          var holder = document.createElement("tbody");
          holder.innerHTML = html;  // rendered by the server, every value escaped
          var rows = Array.prototype.slice.call(holder.rows);
          if (rows.length === 0) return schedule(2000);
          var empty = body.querySelector(".empty-row");
          if (empty) empty.remove();
          // In the order they were stored: each goes on top, the last one newest.
          var newest = Number(lines.getAttribute("data-newest"));
          for (var i = 0; i < rows.length; i++) {
            body.insertBefore(rows[i], body.firstChild);
            newest = Math.max(newest, Number(rows[i].getAttribute("data-id")));
          }
          lines.setAttribute("data-newest", String(newest));
          while (body.rows.length > keptRows) body.deleteRow(body.rows.length - 1);
          schedule(rows.length >= pageSize ? 0 : 2000);
        })
        .catch(function () { schedule(2000); });
    };
    schedule(2000);
  }
})();
