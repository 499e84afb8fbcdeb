/* Shared behaviour of the operator pages.
 *
 * Live regions are replaced wholesale by htmx polling; <details data-keep="...">
 * elements inside them remember whether the operator had them open, so an
 * output being read does not snap shut on the next poll.
 */
(function () {
  "use strict";
  var open = {};

  function remember(root) {
    root.querySelectorAll("details[data-keep]").forEach(function (d) {
      open[d.getAttribute("data-keep")] = d.open;
    });
  }

  function restore() {
    document.querySelectorAll("details[data-keep]").forEach(function (d) {
      var key = d.getAttribute("data-keep");
      if (Object.prototype.hasOwnProperty.call(open, key)) d.open = open[key];
    });
  }

  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d.matches && d.matches("details[data-keep]")) open[d.getAttribute("data-keep")] = d.open;
  }, true);

  document.addEventListener("htmx:beforeSwap", function () { remember(document); });
  document.addEventListener("htmx:afterSettle", restore);
  document.addEventListener("htmx:oobAfterSwap", restore);

  // A table row replaced by an action (enable, run now) flashes once to show what changed.
  document.addEventListener("htmx:load", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (elt && elt.matches && elt.matches("tr[data-flash]")) {
      elt.classList.add("flash");
      setTimeout(function () { elt.classList.remove("flash"); }, 900);
    }
  });

  window.WebautoUi = {
    /* The JSON value of a <script type="application/json" id=...> (or fallback). */
    jsonData: function (id, fallback) {
      var el = document.getElementById(id);
      if (!el) return fallback;
      try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
    },
    rememberOpen: function (key) { open[key] = true; }
  };
})();
