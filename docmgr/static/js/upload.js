/* Upload comfort for documents/new.html — progressive enhancement only.
 *
 * Without JavaScript the form posts as it is: two file slots with a language each, plus "more files".
 * With it, the slots give way to a drop zone and a list of the chosen files with a language per file
 * (guessed from the name, and changeable; otherwise detected by the server), and the form is sent with
 * XMLHttpRequest so that a progress bar can follow large uploads. It posts to the same endpoint with the
 * same fields (the CSRF token included); the server pairs the n-th "language" with the n-th "file".
 * On success the server names the page to go to (not a redirect: the XMLHttpRequest would follow it and spend
 * the flash message saying what was created); on refusal the server's own message is shown.
 *
 * All visible words come from the page (translated there); CSP allows this file, no inline code.
 */
(function () {
  "use strict";

  var CYRILLIC = /[\u0400-\u052f]/g;

  function count(text, pattern) {
    var found = text.match(pattern);
    return found ? found.length : 0;
  }

  function languageOfName(name) {
    var stem = name.replace(/\.[^.]*$/, "").toLowerCase();
    if (count(stem, CYRILLIC) > 0) { return "ru"; }
    var words = stem.split(/[^a-z]+/);
    var it = ["it", "ita", "ital", "italian", "italiano", "italiana"];
    var ru = ["ru", "rus", "russian", "russo", "russa", "russkij"];
    var bi = ["bi", "bilingual", "bilingue", "itru", "ruit"];
    for (var i = 0; i < words.length; i++) {
      if (bi.indexOf(words[i]) >= 0) { return "bi"; }
      if (it.indexOf(words[i]) >= 0) { return "it"; }
      if (ru.indexOf(words[i]) >= 0) { return "ru"; }
    }
    return "";
  }

  function humanSize(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1024 * 1024) { return (bytes / 1024).toFixed(1) + " KB"; }
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : all;
    });
  }

  function enhance(form) {
    var slots = form.querySelector("[data-upload-slots]");
    var panel = form.querySelector("[data-upload-enhanced]");
    if (!slots || !panel || !window.FormData || !window.XMLHttpRequest) { return; }

    var picker = panel.querySelector("[data-picker]");
    var dropZone = panel.querySelector("[data-drop-zone]");
    var list = panel.querySelector("[data-upload-list]");
    var emptyRow = panel.querySelector("[data-empty-row]");
    var rowTemplate = panel.querySelector("[data-row-template]");
    var progress = panel.querySelector("[data-progress]");
    var bar = progress.querySelector("progress");
    var progressText = panel.querySelector("[data-progress-text]");
    var errorBox = panel.querySelector("[data-upload-error]");
    var names = panel.querySelector("[data-language-names]").dataset;
    var labelLanguage = panel.querySelector("[data-label-language]").textContent;
    var labelRemove = panel.querySelector("[data-label-remove]").textContent;
    var messages = panel.dataset;
    var maxBytes = parseInt(messages.maxBytes || "0", 10);
    var submit = form.querySelector("button[type=submit]");
    var chosen = [];  // {file, select, row}
    var sending = false;

    // The enhanced panel replaces the slots; their inputs are disabled so nothing is sent twice.
    slots.hidden = true;
    Array.prototype.forEach.call(slots.querySelectorAll("input, select"), function (el) { el.disabled = true; });
    panel.hidden = false;

    function showError(text) {
      errorBox.textContent = "";
      if (!text) { errorBox.hidden = true; return; }
      var lines = Array.isArray(text) ? text : [text];
      lines.forEach(function (line) {
        var p = document.createElement("p");
        p.textContent = line;
        errorBox.appendChild(p);
      });
      errorBox.hidden = false;
    }

    function refreshEmpty() {
      emptyRow.hidden = chosen.length > 0;
    }

    function addFile(file) {
      var row = rowTemplate.content.firstElementChild.cloneNode(true);
      var select = row.querySelector("[data-language]");
      var guess = row.querySelector("[data-guess]");
      var remove = row.querySelector("[data-remove]");
      row.querySelector("[data-name]").textContent = file.name;
      row.querySelector("[data-size]").textContent = humanSize(file.size);
      select.setAttribute("aria-label", fill(labelLanguage, { name: file.name }));
      remove.setAttribute("aria-label", fill(labelRemove, { name: file.name }));
      var item = { file: file, select: select, row: row };

      function suggest(language) {
        if (!language || select.dataset.touched) { return; }
        select.value = language;
        guess.textContent = fill(messages.msgGuessed, { language: names[language] || language });
      }
      select.addEventListener("change", function () { select.dataset.touched = "1"; guess.textContent = ""; });
      suggest(languageOfName(file.name));
      // No guess from the text here: Latin letters are not Italian. Left on "Detect", the server's language
      // model decides (docmgr/documents/extraction/language.py).
      remove.addEventListener("click", function () {
        var index = chosen.indexOf(item);
        if (index >= 0) { chosen.splice(index, 1); }
        row.parentNode.removeChild(row);
        refreshEmpty();
        picker.focus();
      });
      chosen.push(item);
      list.appendChild(row);
      refreshEmpty();
    }

    function addFiles(files) {
      showError("");
      for (var i = 0; i < files.length; i++) { addFile(files[i]); }
    }

    picker.addEventListener("change", function () {
      addFiles(picker.files);
      picker.value = "";  // the same file can be chosen again after removing it
    });

    ["dragenter", "dragover"].forEach(function (type) {
      dropZone.addEventListener(type, function (event) {
        event.preventDefault();
        dropZone.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      dropZone.addEventListener(type, function () { dropZone.classList.remove("is-dragover"); });
    });
    dropZone.addEventListener("drop", function (event) {
      event.preventDefault();
      dropZone.classList.remove("is-dragover");
      if (event.dataTransfer && event.dataTransfer.files) { addFiles(event.dataTransfer.files); }
    });

    function serverMessages(html) {
      var doc = new DOMParser().parseFromString(html || "", "text/html");
      var found = [];
      var nodes = doc.querySelectorAll("main .flash.error, main .field-error, main .error-page .error");
      Array.prototype.forEach.call(nodes, function (node) {
        var text = node.textContent.trim();
        if (text && found.indexOf(text) < 0) { found.push(text); }
      });
      return found;
    }

    function finish() {
      sending = false;
      if (submit) { submit.disabled = false; }
      progress.hidden = true;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) { return; }
      var tooLarge = chosen.filter(function (item) { return maxBytes && item.file.size > maxBytes; });
      if (tooLarge.length) {
        showError(tooLarge.map(function (item) {
          return fill(messages.msgTooLarge, { name: item.file.name, mb: Math.round(maxBytes / 1048576) });
        }));
        return;
      }
      var data = new FormData();
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.disabled || el.type === "file" || el.closest("[data-upload-enhanced]")) { return; }
        if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
        if (el.tagName === "BUTTON") { return; }
        data.append(el.name, el.value);
      });
      chosen.forEach(function (item) {  // file n and language n travel together
        data.append("file", item.file, item.file.name);
        data.append("language", item.select.value);
      });

      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.setRequestHeader("Accept", "text/html");
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");  // answer {"location": …}, not a redirect
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var percent = Math.round((e.loaded / e.total) * 100);
        bar.value = percent;
        progressText.textContent = fill(messages.msgUploading, { percent: percent + "%" });
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        progressText.textContent = messages.msgProcessing;
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 400) {
          var answer = null;
          try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
          // The new document, or the list of the new documents (where the flash message is shown).
          window.location.assign((answer && answer.location) || xhr.responseURL || window.location.href);
          return;
        }
        finish();
        var found = serverMessages(xhr.responseText);
        showError(found.length ? found : messages.msgFailed + " (" + xhr.status + ")");
        errorBox.focus();
      });
      xhr.addEventListener("error", function () { finish(); showError(messages.msgNetwork); });
      xhr.addEventListener("abort", function () { finish(); });

      sending = true;
      if (submit) { submit.disabled = true; }
      showError("");
      bar.value = 0;
      progressText.textContent = fill(messages.msgUploading, { percent: "0%" });
      progress.hidden = false;
      xhr.send(data);
    });
    errorBox.setAttribute("tabindex", "-1");
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-upload-form]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
