/* Task page: draws the DAG and recolours it whenever the live region is
 * refreshed by htmx polling. */
(function () {
  "use strict";
  var graph = WebautoUi.jsonData("dag-graph", { nodes: [], edges: [] });
  var box = document.getElementById("task-dag");

  function rows(id) {
    return document.querySelectorAll('tr[data-node-id="' + CSS.escape(id) + '"]');
  }

  WebautoDag.render(box, graph.nodes, graph.edges, WebautoUi.jsonData("dag-statuses", {}), {
    direction: "auto",
    onNodeClick: function (id) {
      var found = rows(id);
      if (!found.length) return;
      found[0].scrollIntoView({ behavior: "smooth", block: "center" });
      found[0].classList.add("flash");
      setTimeout(function () { found[0].classList.remove("flash"); }, 900);
    }
  });

  document.body.addEventListener("htmx:afterSettle", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "task-live") {
      WebautoDag.setStatuses(box, WebautoUi.jsonData("dag-statuses", {}));
    }
  });
})();
