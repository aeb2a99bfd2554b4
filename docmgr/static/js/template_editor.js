/* Live preview for drafting/template_form.html — progressive enhancement only.
 *
 * Without JavaScript the "Preview" button posts the form and the page shows the preview. With it, the
 * preview follows the typing: a short pause after a change in the field list or the body sends both to
 * POST /api/v1/templates/preview (the same checks and renderer as saving; nothing is saved) and shows the
 * rendered clauses, or the server's error message with its line. Chosen files are read into the text
 * areas first, so what is previewed is what will be saved.
 *
 * All visible words come from the server (translated there); CSP allows this file, no inline code.
 */
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("form.template-editor");
    if (!form) { return; }
    var url = form.getAttribute("data-preview-url");
    var body = form.querySelector("#body");
    var fields = form.querySelector("#fields");
    var name = form.querySelector("#name");
    var nameRu = form.querySelector("#name_ru");
    var out = document.querySelector("[data-preview-body]");
    var status = document.querySelector("[data-preview-status]");
    var token = form.querySelector("input[name=csrf_token]").value;
    var timer = null;
    var sequence = 0;

    function parsedFields() {
      try { return JSON.parse(fields.value || "[]"); } catch (e) { return fields.value; }
    }

    function refresh() {
      var mine = ++sequence;
      var request = new XMLHttpRequest();
      request.open("POST", url);
      request.setRequestHeader("Content-Type", "application/json");
      request.setRequestHeader("X-CSRFToken", token);
      request.onload = function () {
        if (mine !== sequence) { return; }
        var answer = null;
        try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
        if (request.status === 200 && answer) {
          out.innerHTML = answer.html; /* sanitised by the server's allow-list (nh3) */
          status.textContent = status.getAttribute("data-ok");
          status.classList.remove("field-error");
        } else if (answer && answer.error) {
          status.textContent = answer.error.message; /* the server names the line in it */
          status.classList.add("field-error");
        }
      };
      var payload = {name: name.value || "—", body: body.value, fields: parsedFields()};
      if (nameRu) { payload.name_ru = nameRu.value; }
      request.send(JSON.stringify(payload));
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 700);
    }

    function readInto(input, target) {
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) { return; }
        var reader = new FileReader();
        reader.onload = function () { target.value = reader.result; later(); };
        reader.readAsText(file, "utf-8");
      });
    }

    body.addEventListener("input", later);
    fields.addEventListener("input", later);
    readInto(form.querySelector("#fields_file"), fields);
    readInto(form.querySelector("#body_file"), body);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
