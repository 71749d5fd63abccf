// The console's only script (served from /console/static: the CSP allows no inline script).
// Plain browser APIs: fetch, <dialog>, the clipboard. Text from the server arrives as HTML the
// server escaped (Jinja2 autoescape); nothing here builds HTML from data.
"use strict";

// A one-time sign-in link carries its code in the URL fragment (never sent to a server, so in
// no log): put it in the form and send it.
function signInFromLink() {
  var form = document.getElementById("link-form");
  if (!form || location.hash.length < 2) return;
  document.getElementById("token").value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
  form.submit();
}

// Copy buttons: <button data-copy="input id">.
function copyButtons() {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy"));
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else {
        document.execCommand("copy"); done();
      }
    });
  });
}

// Forms with data-confirm ask first, in a <dialog>.
function confirmations() {
  var dialog = document.getElementById("confirm");
  if (!dialog) return;
  var pending = null;
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirmed === "yes") return;
      event.preventDefault();
      pending = form;
      document.getElementById("confirm-text").textContent = form.getAttribute("data-confirm");
      if (form.dataset.confirmYes) document.getElementById("confirm-yes").textContent = form.dataset.confirmYes;
      dialog.showModal();
      document.getElementById("confirm-no").focus();
    });
  });
  document.getElementById("confirm-yes").addEventListener("click", function () {
    dialog.close();
    if (pending) { pending.dataset.confirmed = "yes"; pending.requestSubmit(); }
  });
  document.getElementById("confirm-no").addEventListener("click", function () {
    pending = null;
    dialog.close();
  });
}

// The Leads page: rows newer than the newest shown, asked for each time the event stream
// (/console/events/stream, one per mode) says a lead was created, and when a stream (re)opens.
function liveLeads() {
  var table = document.getElementById("leads");
  if (!table || !table.dataset.live) return;
  var body = table.tBodies[0];
  var busy = false;
  var again = false;
  function poll() {
    if (busy) { again = true; return; }
    busy = true;
    again = false;
    var url = table.dataset.live;
    var newest = table.dataset.newest;
    if (newest) url += (url.indexOf("?") < 0 ? "?" : "&") + "created_after=" + encodeURIComponent(newest);
    fetch(url, {credentials: "same-origin", redirect: "error"})
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html.trim()) return;
        var parsed = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
        var rows = parsed.querySelectorAll("tbody > tr");
        // The answer looks back a few seconds (a lead committed late): skip the rows shown,
        // put each new one in its place, newest first.
        for (var i = rows.length - 1; i >= 0; i--) {
          var row = rows[i];
          if (body.querySelector('tr[data-lead="' + row.dataset.lead + '"]')) continue;
          var before = body.firstElementChild;
          while (before && before.dataset.created > row.dataset.created) {
            before = before.nextElementSibling;
          }
          body.insertBefore(document.importNode(row, true), before);
          var empty = document.getElementById("no-leads");
          if (empty) empty.remove();
        }
        if (rows.length && (!table.dataset.newest || rows[0].dataset.created > table.dataset.newest)) {
          table.dataset.newest = rows[0].dataset.created;
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) poll();
      });
  }
  ["live", "test"].forEach(function (mode) {
    var stream = new EventSource("/console/events/stream?type=lead.created&mode=" + mode);
    stream.addEventListener("lead.created", poll);
    stream.addEventListener("open", poll);  // what arrived while it was closed
  });
}

// CSV import: the chosen file's text goes into the list box (read in the browser; the form
// then posts text like a pasted list).
function fileInputs() {
  document.querySelectorAll("input[type=file][data-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files[0];
      if (!file) return;
      file.text().then(function (text) {
        document.getElementById(input.getAttribute("data-into")).value = text;
      });
    });
  });
}

// A source's mapping editor: as the mapping or the sample is edited (debounced), both are
// posted to the console's preview (the API's mapping check and preview function) with the CSRF
// header; the answer is drawn with text nodes only (a vendor's payload is hostile text).
function el(tag, text, cls) {
  var node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function shown(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function drawPreview(out, answer) {
  out.replaceChildren();
  if (answer.empty) {
    out.appendChild(el("p", "Paste a sample to see the lead it makes.", "muted"));
    return;
  }
  var verdict = answer.valid
    ? "Would make a lead" + (answer.phone ? " for " + answer.phone : "") +
      (answer.eligible === false ? " (not callable: " + (answer.reasons || []).join(", ") + ")" : "")
    : "Would be refused";
  out.appendChild(el("p", verdict, answer.valid ? "verdict ok" : "verdict error"));
  var problems = answer.problems || [];
  if (problems.length) {
    var list = el("ul", null, "problems");
    list.id = "preview-problems";
    problems.forEach(function (p) { list.appendChild(el("li", (p.param || "") + ": " + (p.detail || p.code || ""))); });
    out.appendChild(list);
  }
  var lead = answer.lead;
  if (lead && typeof lead === "object") {
    var from = answer.sources || {};
    var table = el("table", null, "list");
    table.id = "preview-fields";
    table.appendChild(el("caption", "The lead, and where each field came from"));
    var head = table.createTHead().insertRow();
    ["Field", "Value", "From the payload"].forEach(function (h) {
      var th = el("th", h); th.scope = "col"; head.appendChild(th);
    });
    var body = table.createTBody();
    var row = function (name, value, path) {
      var tr = body.insertRow();
      tr.appendChild(el("td", name));
      tr.appendChild(el("td", shown(value)));
      tr.appendChild(el("td", path || ""));
    };
    Object.keys(lead).forEach(function (k) {
      var v = lead[k];
      if (v && typeof v === "object" && !Array.isArray(v) && !from["#/" + k]) {
        Object.keys(v).forEach(function (k2) { row(k + "." + k2, v[k2], from["#/" + k + "/" + k2]); });
      } else {
        row(k, v, from["#/" + k]);
      }
    });
    out.appendChild(table);
  }
  var warnings = answer.warnings || [];
  if (warnings.length) {
    out.appendChild(el("p", "Warnings:"));
    var wl = el("ul", null, "warnings");
    warnings.forEach(function (w) { wl.appendChild(el("li", shown(w))); });
    out.appendChild(wl);
  }
}

function mappingEditor() {
  var form = document.getElementById("mapping-form");
  if (!form) return;
  var out = document.getElementById("preview-out");
  var boxes = [document.getElementById("mapping"), document.getElementById("sample"),
               document.getElementById("sample-type")];
  var timer = null;
  var asked = 0;
  function ask() {
    var mine = ++asked;
    out.setAttribute("aria-busy", "true");
    fetch(form.dataset.preview, {
      method: "POST", credentials: "same-origin", redirect: "error",
      headers: {"X-CSRF-Token": form.dataset.csrf, "Content-Type": "application/json"},
      body: JSON.stringify({mapping: boxes[0].value, sample: boxes[1].value,
                            content_type: boxes[2].value})
    }).then(function (r) {
      if (!r.ok) throw new Error("the service answered " + r.status);
      return r.json();
    }).then(function (answer) {
      if (mine === asked) drawPreview(out, answer);  // an older answer never replaces a newer
    }).catch(function (e) {
      if (mine === asked) { out.replaceChildren(el("p", "The preview failed: " + e.message, "error")); }
    }).then(function () { if (mine === asked) out.removeAttribute("aria-busy"); });
  }
  boxes.forEach(function (box) {
    box.addEventListener(box.tagName === "SELECT" ? "change" : "input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 300);
    });
  });
  if (boxes[1].value.trim()) ask();
}

document.addEventListener("DOMContentLoaded", function () {
  mappingEditor();
  fileInputs();
  signInFromLink();
  window.addEventListener("hashchange", signInFromLink);
  copyButtons();
  confirmations();
  liveLeads();
});
