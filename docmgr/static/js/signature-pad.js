/* Drawing a signature for docmgr's in-browser signing (templates/signatures/_sign_in_browser.html).
 *
 * Progressive enhancement: without JavaScript only the typed signature is offered. With it, the canvas
 * appears; strokes (mouse, pen, touch through Pointer Events) are drawn in dark blue on a transparent
 * background, and on submit the drawing goes to the hidden field "drawing" as a PNG data: URL (the server
 * checks that it is a PNG of bounded size). Drawing clears the typed field and typing clears the drawing,
 * so exactly one signature is sent. No inline code, no external resources (CSP: script-src 'self').
 */
(function () {
  "use strict";

  function setUp(form) {
    var pad = form.querySelector("[data-signature-pad]");
    var canvas = form.querySelector("[data-signature-canvas]");
    var field = form.querySelector("[data-signature-drawing]");
    var typed = form.querySelector("[data-typed-signature]");
    var clear = form.querySelector("[data-signature-clear]");
    if (!pad || !canvas || !canvas.getContext) { return; }
    pad.hidden = false;
    var context = canvas.getContext("2d");
    var drawing = false;
    var drawn = false;
    context.lineWidth = 2.5;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#0b1f5c";

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: (event.clientX - box.left) * (canvas.width / box.width),
        y: (event.clientY - box.top) * (canvas.height / box.height)
      };
    }

    function reset() {
      context.clearRect(0, 0, canvas.width, canvas.height);
      drawn = false;
      field.value = "";
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      if (canvas.setPointerCapture) { canvas.setPointerCapture(event.pointerId); }
      var p = point(event);
      context.beginPath();
      context.moveTo(p.x, p.y);
      context.lineTo(p.x + 0.1, p.y + 0.1);
      context.stroke();
      drawn = true;
      if (typed) { typed.value = ""; }
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!drawing) { return; }
      var p = point(event);
      context.lineTo(p.x, p.y);
      context.stroke();
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
      canvas.addEventListener(name, function () { drawing = false; });
    });
    if (clear) { clear.addEventListener("click", reset); }
    if (typed) {
      typed.addEventListener("input", function () { if (typed.value) { reset(); } });
    }
    form.addEventListener("submit", function () {
      field.value = drawn ? canvas.toDataURL("image/png") : "";
    });
  }

  function start() {
    var forms = document.querySelectorAll("[data-signature-form]");
    for (var i = 0; i < forms.length; i += 1) { setUp(forms[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
