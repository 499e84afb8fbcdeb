/* Dashboard: Chart.js charts fed from /api/v1/metrics/series/ and live
 * htmx tables, both refreshed without reloading the page. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.Chart) return;

  var STATUS_COLORS = {
    completed: "#1f9d55", completed_with_errors: "#d98e04", failed: "#d64545", timed_out: "#a33",
    cancelled: "#9aa3b5", running: "#2f6fed", queued: "#7aa2f7", pending: "#c9d1e3",
  };
  var rangeInput = document.getElementById("range-input");
  var range = root.dataset.range;
  var charts = {};
  var pollers = [];

  function label(iso) {
    var d = new Date(iso);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var time = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return (range === "1h" || range === "24h") ? time : (pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time);
  }

  function lineChart(id, datasets, yOptions) {
    var canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
        interaction: { mode: "index", intersect: false },
        scales: { x: { ticks: { maxTicksLimit: 8 } }, y: Object.assign({ beginAtZero: true }, yOptions || {}) },
        // Visible points: with all data in one bucket a line has nothing to join.
        elements: { point: { radius: 3, hoverRadius: 5 } },
      },
    });
  }

  function build() {
    charts.executions = new Chart(document.getElementById("chart-executions"), {
      type: "bar",
      data: { labels: [], datasets: Object.keys(STATUS_COLORS).map(function (s) {
        return { label: s.replace(/_/g, " "), key: s, data: [], backgroundColor: STATUS_COLORS[s], stack: "runs" };
      }) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: { maxTicksLimit: 12 } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    charts.success = lineChart("chart-success",
      [{ label: "success rate %", key: "successRate", data: [], borderColor: "#1f9d55", backgroundColor: "#1f9d55" }],
      { max: 100 });
    charts.duration = lineChart("chart-duration", [
      { label: "p50 (s)", key: "durationP50", data: [], borderColor: "#2f6fed", backgroundColor: "#2f6fed" },
      { label: "p95 (s)", key: "durationP95", data: [], borderColor: "#d98e04", backgroundColor: "#d98e04" },
    ]);
    charts.lag = lineChart("chart-lag",
      [{ label: "avg lag (s)", key: "scheduleLag", data: [], borderColor: "#7a5af8", backgroundColor: "#7a5af8" }]);
    charts.system = lineChart("chart-system", [
      { label: "CPU %", key: "cpu", data: [], borderColor: "#d64545", backgroundColor: "#d64545" },
      { label: "memory %", key: "memory", data: [], borderColor: "#2f6fed", backgroundColor: "#2f6fed" },
    ], { max: 100 });
  }

  function update(series) {
    var labels = series.buckets.map(label);
    charts.executions.data.labels = labels;
    charts.executions.data.datasets.forEach(function (ds) { ds.data = series.executions[ds.key] || []; });
    charts.success.data.labels = labels;
    charts.success.data.datasets[0].data = series.successRate.map(function (v) { return v === null ? null : v * 100; });
    charts.duration.data.labels = labels;
    charts.duration.data.datasets.forEach(function (ds) { ds.data = series[ds.key]; });
    charts.lag.data.labels = labels;
    charts.lag.data.datasets[0].data = series.scheduleLag;
    charts.system.data.labels = labels;
    charts.system.data.datasets.forEach(function (ds) { ds.data = series.system[ds.key]; });
    Object.keys(charts).forEach(function (k) { charts[k].update(); });
  }

  function refreshCharts() {
    var url = root.dataset.seriesUrl + "?range=" + encodeURIComponent(range);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) update(data); })
      .catch(function () { /* the next poll tries again */ });
  }

  function watchTables() {
    document.querySelectorAll("#dashboard [data-poll]").forEach(function (el) {
      var id = el.id;
      var ms = parseInt(el.dataset.poll, 10);
      var poller = window.adaptiveSetInterval(function () {
        var current = document.getElementById(id);
        if (current) htmx.trigger(current, "refresh");
      }, ms, ms * 6);
      pollers.push({ id: id, poller: poller });
    });
  }

  // 286 "stop polling": the server says this live view will not change again.
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.xhr || event.detail.xhr.status !== 286) return;
    var id = event.detail.elt && event.detail.elt.id;
    pollers.filter(function (p) { return p.id === id; }).forEach(function (p) { p.poller.stop(); });
  });

  root.querySelectorAll(".range-selector [data-range]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      range = link.dataset.range;
      rangeInput.value = range;
      root.querySelectorAll(".range-selector [data-range]").forEach(function (l) {
        l.classList.toggle("active", l === link);
        l.classList.toggle("secondary", l !== link);
      });
      history.replaceState(null, "", "?range=" + range);
      refreshCharts();
      ["summary", "failures"].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) htmx.trigger(el, "refresh");
      });
    });
  });

  build();
  refreshCharts();
  window.adaptiveSetInterval(refreshCharts, 15000, 120000);
  watchTables();
})();
