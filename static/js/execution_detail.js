/* Execution page: draws the DAG, recolours it on every live refresh, and opens
 * a node's output when its box in the graph is clicked. */
(function () {
  "use strict";
  var graph = WebautoUi.jsonData("dag-graph", { nodes: [], edges: [] });
  var box = document.getElementById("execution-dag");

  function openNode(id) {
    var card = document.querySelector('details.node-card[data-node-id="' + CSS.escape(id) + '"]');
    if (!card) return;
    card.open = true;
    WebautoUi.rememberOpen(card.getAttribute("data-keep"));
    card.scrollIntoView({ behavior: "smooth", block: "start" });
    card.classList.add("flash");
    setTimeout(function () { card.classList.remove("flash"); }, 900);
  }

  WebautoDag.render(box, graph.nodes, graph.edges, WebautoUi.jsonData("dag-statuses", {}), { onNodeClick: openNode, direction: "auto" });

  document.body.addEventListener("htmx:afterSettle", function () {
    WebautoDag.setStatuses(box, WebautoUi.jsonData("dag-statuses", {}));
  });
})();
