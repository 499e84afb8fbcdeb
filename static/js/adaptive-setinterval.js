/* Polling that slows down when nobody looks (after healthchecks.io's
 * adaptive-setinterval.js): `fn` runs every `visibleMs` while the tab is
 * visible and every `hiddenMs` while it is hidden, and at once when the tab
 * becomes visible again after missing a beat. Returns {stop, now}. */
(function () {
  "use strict";
  function adaptiveSetInterval(fn, visibleMs, hiddenMs) {
    var timer = null;
    var stopped = false;
    var last = Date.now();

    function delay() { return document.hidden ? hiddenMs : visibleMs; }
    function schedule() {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(tick, delay());
    }
    function tick() {
      if (stopped) return;
      last = Date.now();
      try { fn(); } finally { schedule(); }
    }
    function onVisibility() {
      if (stopped) return;
      if (!document.hidden && Date.now() - last >= visibleMs) tick(); else schedule();
    }
    document.addEventListener("visibilitychange", onVisibility);
    schedule();
    return {
      stop: function () {
        stopped = true;
        clearTimeout(timer);
        document.removeEventListener("visibilitychange", onVisibility);
      },
      now: tick,
    };
  }
  window.adaptiveSetInterval = adaptiveSetInterval;
})();
