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

// A source's sample preview: the textarea is posted to the console's preview (the API's own
// preview function) with the CSRF header; the answer is shown as text.
function samplePreview() {
  var form = document.getElementById("preview-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var out = document.getElementById("preview-out");
    out.textContent = "…";
    fetch(form.dataset.preview, {
      method: "POST", credentials: "same-origin", redirect: "error",
      headers: {"X-CSRF-Token": form.dataset.csrf,
                "X-Sample-Type": document.getElementById("sample-type").value},
      body: document.getElementById("sample").value
    }).then(function (r) { return r.json(); })
      .then(function (answer) { out.textContent = JSON.stringify(answer, null, 2); })
      .catch(function (e) { out.textContent = "The preview failed: " + e; });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  samplePreview();
  fileInputs();
  signInFromLink();
  window.addEventListener("hashchange", signInFromLink);
  copyButtons();
  confirmations();
  liveLeads();
});
