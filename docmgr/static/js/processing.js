/* The document page after an upload: "processing" until the worker has done what the upload queued (search
 * index, thumbnails, PDF preview of DOCX/ODT, OCR of scans), polled from GET /api/v1/documents/ID/processing.
 * When it is all done the page reloads once, so thumbnails and previews appear. Words come from the page. */
(function () {
  "use strict";

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
    Array.prototype.forEach.call(document.querySelectorAll("[data-processing-url]"), watch);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
