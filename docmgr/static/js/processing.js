/* The document page after an upload: "processing" until the worker has done what the upload queued (search
 * index, thumbnails, PDF preview of DOCX/ODT, OCR of scans), polled from GET /api/v1/documents/ID/processing.
 * When it is all done the page reloads once, so thumbnails and previews appear. Words come from the page.
 * The messages shown above the page (e.g. "3 documents were uploaded") are carried over that reload: the
 * server showed them once, so they are kept in sessionStorage for this one reload and put back. */
(function () {
  "use strict";

  var FLASH_KEY = "docmgr.flash:" + window.location.pathname;

  function keepFlashes() {
    var kept = Array.prototype.map.call(document.querySelectorAll("#main > p.flash:not([data-processing-url])"), function (p) {
      return { className: p.className, text: p.textContent };
    });
    try { window.sessionStorage.setItem(FLASH_KEY, JSON.stringify(kept)); } catch (e) { /* storage off: lose them */ }
  }

  function restoreFlashes() {
    var kept = null;
    try {
      kept = JSON.parse(window.sessionStorage.getItem(FLASH_KEY) || "null");
      window.sessionStorage.removeItem(FLASH_KEY);
    } catch (e) { kept = null; }
    var main = document.getElementById("main");
    if (!kept || !kept.length || !main || main.querySelector("p.flash:not([data-processing-url])")) { return; }
    kept.slice().reverse().forEach(function (flash) {
      var p = document.createElement("p");
      p.className = String(flash.className || "flash");
      p.setAttribute("role", "status");
      p.textContent = String(flash.text || "");
      main.insertBefore(p, main.firstChild);
    });
  }

  function watch(box) {
    var url = box.getAttribute("data-processing-url");
    var text = box.querySelector("[data-processing-text]");
    var started = Date.now();
    var limit = 10 * 60 * 1000;  // then stop asking: the note stays, a reload shows the state

    function poll() {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 200 && body && body.state === "ready") {
          box.setAttribute("data-state", "ready");
          text.textContent = box.getAttribute("data-msg-ready");
          keepFlashes();
          window.location.reload();
          return;
        }
        if (Date.now() - started < limit) { window.setTimeout(poll, 1000); }
      });
      xhr.addEventListener("error", function () {
        if (Date.now() - started < limit) { window.setTimeout(poll, 3000); }
      });
      xhr.send();
    }
    poll();
  }

  function start() {
    restoreFlashes();
    Array.prototype.forEach.call(document.querySelectorAll("[data-processing-url]"), watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
