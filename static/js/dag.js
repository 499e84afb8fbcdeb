/* WebautoDag: draws a task's workflow graph as an SVG, in layers (left to right
 * or top to bottom).
 *
 *   WebautoDag.render(target, nodes, edges, statuses, options)
 *     target   an <svg>, a container element (an <svg> is created inside) or a selector
 *     nodes    [{id, label, kind, href}]      (label/kind/href optional)
 *     edges    [{from, to}] or [[from, to]]   (dependency -> dependent)
 *     statuses {nodeId: "completed" | "running" | ...}  (optional)
 *     options  {onNodeClick(id), selected: id, errors: {nodeId: message}, emptyText,
 *               minScale (how far the drawing may shrink to fit, default 0.65),
 *               direction: "LR" (default), "TB", or "auto" (TB when LR is too wide for the container)}
 *   WebautoDag.fromDefinition(doc) -> {nodes, edges}   (from a task/template definition)
 *   WebautoDag.setStatuses(target, statuses)            (recolour without a new layout)
 *
 * Every piece of text goes through textContent, so node names and kinds taken
 * from user data can never inject markup. Dependencies on unknown nodes are drawn
 * as dashed "missing" nodes; edges that close a cycle are drawn dashed red.
 */
(function (global) {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var NODE_W = 176, NODE_H = 56, GAP_X = 70, GAP_Y = 22, PAD = 16;

  var PALETTE = {
    pending:   { fill: "#f3f4f7", stroke: "#b7bfcf", text: "#4a5263" },
    queued:    { fill: "#e9f0fe", stroke: "#7fa5f4", text: "#1f4fb8" },
    running:   { fill: "#dde8fd", stroke: "#2f6fed", text: "#1f4fb8" },
    completed: { fill: "#dcf3e5", stroke: "#1f9d55", text: "#146c3a" },
    failed:    { fill: "#fbe0e0", stroke: "#d64545", text: "#a12f2f" },
    timed_out: { fill: "#fbe0e0", stroke: "#d64545", text: "#a12f2f" },
    skipped:   { fill: "#eceef3", stroke: "#9aa3b5", text: "#6b7385" },
    cancelled: { fill: "#eceef3", stroke: "#6b7385", text: "#4a5263" },
    none:      { fill: "#ffffff", stroke: "#9fb0cc", text: "#1d2330" },
    missing:   { fill: "#fff7f7", stroke: "#d64545", text: "#a12f2f" }
  };

  function el(name, attrs) {
    var node = document.createElementNS(SVG_NS, name);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    }
    return node;
  }

  function resolveTarget(target) {
    if (typeof target === "string") target = document.querySelector(target);
    if (!target) throw new Error("WebautoDag: target not found");
    if (target.namespaceURI === SVG_NS && target.tagName.toLowerCase() === "svg") return target;
    var svg = target.querySelector("svg.webauto-dag");
    if (!svg) {
      svg = el("svg", { "class": "webauto-dag", role: "img" });
      target.appendChild(svg);
    }
    return svg;
  }

  function normaliseEdges(edges) {
    return (edges || []).map(function (e) {
      return Array.isArray(e) ? { from: String(e[0]), to: String(e[1]) } : { from: String(e.from), to: String(e.to) };
    });
  }

  /* Ranks by longest path from a root. A DFS over predecessors marks edges that
   * lead back into the current path (a cycle) so ranking still terminates. */
  function layers(ids, preds) {
    var rank = {}, state = {}, backEdges = {};
    function visit(id) {
      if (state[id] === 2) return rank[id];
      state[id] = 1;
      var r = 0;
      (preds[id] || []).forEach(function (p) {
        if (state[p] === 1) { backEdges[p + "->" + id] = true; return; }
        r = Math.max(r, visit(p) + 1);
      });
      state[id] = 2;
      rank[id] = r;
      return r;
    }
    ids.forEach(visit);
    return { rank: rank, backEdges: backEdges };
  }

  /* Orders nodes within each layer by the mean position of their neighbours
   * (a few barycentre sweeps), which removes most edge crossings of small DAGs. */
  function order(ids, rank, preds, succs) {
    var maxRank = 0;
    ids.forEach(function (id) { maxRank = Math.max(maxRank, rank[id]); });
    var cols = [];
    for (var i = 0; i <= maxRank; i++) cols.push([]);
    ids.forEach(function (id) { cols[rank[id]].push(id); });
    var pos = {};
    function index() { cols.forEach(function (col) { col.forEach(function (id, k) { pos[id] = k; }); }); }
    function sweep(col, neighbours) {
      var bary = {};
      col.forEach(function (id) {
        var ns = (neighbours[id] || []).filter(function (n) { return pos[n] !== undefined; });
        bary[id] = ns.length ? ns.reduce(function (s, n) { return s + pos[n]; }, 0) / ns.length : pos[id];
      });
      col.sort(function (a, b) { return bary[a] - bary[b] || pos[a] - pos[b]; });
    }
    index();
    for (var pass = 0; pass < 4; pass++) {
      for (var c = 1; c < cols.length; c++) { sweep(cols[c], preds); index(); }
      for (var d = cols.length - 2; d >= 0; d--) { sweep(cols[d], succs); index(); }
    }
    return cols;
  }

  function truncate(text, max) {
    text = String(text == null ? "" : text);
    return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
  }

  function paint(group, status, missing) {
    var colours = missing ? PALETTE.missing : (PALETTE[status] || PALETTE.none);
    var rect = group.querySelector("rect.dag-box");
    rect.setAttribute("fill", colours.fill);
    rect.setAttribute("stroke", colours.stroke);
    group.querySelectorAll("text").forEach(function (t) { t.setAttribute("fill", colours.text); });
    var statusText = group.querySelector("text.dag-status");
    if (statusText) statusText.textContent = missing ? "missing" : (status ? String(status).replace(/_/g, " ") : "");
    group.setAttribute("data-status", missing ? "missing" : (status || ""));
    group.classList.toggle("dag-running", status === "running");
  }

  function render(target, nodes, edges, statuses, options) {
    var svg = resolveTarget(target);
    options = options || {};
    statuses = statuses || {};
    var errors = options.errors || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);

    var byId = {}, ids = [];
    (nodes || []).forEach(function (n) {
      var id = String(n.id);
      if (byId[id]) return;
      byId[id] = { id: id, label: n.label || id, kind: n.kind || "", href: n.href || "", missing: false };
      ids.push(id);
    });
    var list = normaliseEdges(edges);
    list.forEach(function (e) {
      [e.from, e.to].forEach(function (id) {
        if (!byId[id]) { byId[id] = { id: id, label: id, kind: "not defined", href: "", missing: true }; ids.push(id); }
      });
    });

    if (!ids.length) {
      svg.setAttribute("viewBox", "0 0 400 60");
      svg.setAttribute("height", "60");
      var empty = el("text", { x: 200, y: 34, "text-anchor": "middle", fill: "#6b7385", "font-size": 13 });
      empty.textContent = options.emptyText || "No workflow nodes yet.";
      svg.appendChild(empty);
      return svg;
    }

    var preds = {}, succs = {};
    list.forEach(function (e) {
      (preds[e.to] = preds[e.to] || []).push(e.from);
      (succs[e.from] = succs[e.from] || []).push(e.to);
    });
    var lay = layers(ids, preds);
    var cols = order(ids, lay.rank, preds, succs);
    var tallest = Math.max.apply(null, cols.map(function (c) { return c.length; }));
    // Left to right, or top to bottom when that fits the container better
    // (a long chain in a narrow column).
    var lrWidth = cols.length * NODE_W + (cols.length - 1) * GAP_X + 2 * PAD;
    var tbWidth = tallest * NODE_W + (tallest - 1) * GAP_Y + 2 * PAD;
    var direction = options.direction || "LR";
    if (direction === "auto") {
      var room = (svg.parentNode && svg.parentNode.clientWidth) || lrWidth;
      direction = lrWidth > room && tbWidth < lrWidth ? "TB" : "LR";
    }
    var vertical = direction === "TB";
    var width, height, at = {};
    if (vertical) {
      width = tbWidth;
      height = cols.length * NODE_H + (cols.length - 1) * GAP_X * 0.7 + 2 * PAD;
      cols.forEach(function (col, c) {
        var rowWidth = col.length * NODE_W + (col.length - 1) * GAP_Y;
        var left = (width - rowWidth) / 2;
        col.forEach(function (id, k) { at[id] = { x: left + k * (NODE_W + GAP_Y), y: PAD + c * (NODE_H + GAP_X * 0.7) }; });
      });
    } else {
      width = lrWidth;
      height = tallest * NODE_H + (tallest - 1) * GAP_Y + 2 * PAD;
      cols.forEach(function (col, c) {
        var colHeight = col.length * NODE_H + (col.length - 1) * GAP_Y;
        var top = (height - colHeight) / 2;
        col.forEach(function (id, k) { at[id] = { x: PAD + c * (NODE_W + GAP_X), y: top + k * (NODE_H + GAP_Y) }; });
      });
    }
    svg.setAttribute("data-direction", direction);

    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", String(height));
    svg.style.maxWidth = width + "px";
    // Shrink to fit, but not below a readable size: past that the container scrolls.
    svg.style.minWidth = Math.round(width * (options.minScale || 0.65)) + "px";
    svg.setAttribute("aria-label", "Workflow graph with " + ids.length + " nodes");

    var defs = el("defs");
    [["dag-arrow", "#8d99b0"], ["dag-arrow-bad", "#d64545"]].forEach(function (m) {
      var marker = el("marker", { id: m[0], viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      marker.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: m[1] }));
      defs.appendChild(marker);
    });
    svg.appendChild(defs);

    var edgeLayer = el("g", { "class": "dag-edges" });
    list.forEach(function (e) {
      var a = at[e.from], b = at[e.to];
      var back = !!lay.backEdges[e.from + "->" + e.to];
      var bad = back || byId[e.from].missing || byId[e.to].missing;
      var d;
      if (vertical) {
        var vx1 = a.x + NODE_W / 2, vy1 = a.y + NODE_H, vx2 = b.x + NODE_W / 2, vy2 = b.y;
        if (vy2 > vy1) {
          var vmid = (vy2 - vy1) / 2;
          d = "M " + vx1 + " " + vy1 + " C " + vx1 + " " + (vy1 + vmid) + ", " + vx2 + " " + (vy2 - vmid) + ", " + vx2 + " " + vy2;
        } else {
          // A cycle edge runs backwards: loop it beside the nodes.
          var side = Math.max(a.x, b.x) + NODE_W + GAP_Y * 0.8;
          d = "M " + vx1 + " " + vy1 + " C " + side + " " + (vy1 + 40) + ", " + side + " " + (vy2 - 40) + ", " + vx2 + " " + vy2;
        }
      } else {
        var x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
        if (x2 > x1) {
          var mid = (x2 - x1) / 2;
          d = "M " + x1 + " " + y1 + " C " + (x1 + mid) + " " + y1 + ", " + (x2 - mid) + " " + y2 + ", " + x2 + " " + y2;
        } else {
          // A cycle edge runs backwards: loop it under the nodes.
          var low = Math.max(a.y, b.y) + NODE_H + GAP_Y * 0.8;
          d = "M " + x1 + " " + y1 + " C " + (x1 + 40) + " " + low + ", " + (x2 - 40) + " " + low + ", " + x2 + " " + y2;
        }
      }
      var path = el("path", {
        d: d, fill: "none", stroke: bad ? "#d64545" : "#8d99b0", "stroke-width": 1.6,
        "marker-end": "url(#" + (bad ? "dag-arrow-bad" : "dag-arrow") + ")", "class": "dag-edge"
      });
      if (bad) path.setAttribute("stroke-dasharray", "5 4");
      path.setAttribute("data-from", e.from);
      path.setAttribute("data-to", e.to);
      edgeLayer.appendChild(path);
    });
    svg.appendChild(edgeLayer);

    var nodeLayer = el("g", { "class": "dag-nodes" });
    ids.forEach(function (id) {
      var n = byId[id], p = at[id];
      var g = el("g", { "class": "dag-node", transform: "translate(" + p.x + "," + p.y + ")", tabindex: 0 });
      g.setAttribute("data-node-id", id);
      var title = el("title");
      title.textContent = n.label + (n.label !== id ? " (" + id + ")" : "") + (n.kind ? "\n" + n.kind : "") + (errors[id] ? "\n\u26a0 " + errors[id] : "");
      g.appendChild(title);
      var rect = el("rect", { "class": "dag-box", width: NODE_W, height: NODE_H, rx: 8, ry: 8, "stroke-width": 1.6 });
      if (n.missing) rect.setAttribute("stroke-dasharray", "5 4");
      g.appendChild(rect);
      if (errors[id]) {
        g.appendChild(el("rect", { x: -3, y: -3, width: NODE_W + 6, height: NODE_H + 6, rx: 10, ry: 10, fill: "none", stroke: "#d64545", "stroke-width": 2, "class": "dag-error-ring" }));
      }
      if (options.selected === id) {
        g.appendChild(el("rect", { x: -4, y: -4, width: NODE_W + 8, height: NODE_H + 8, rx: 11, ry: 11, fill: "none", stroke: "#2f6fed", "stroke-width": 2.5, "class": "dag-selected" }));
      }
      var label = el("text", { x: 10, y: 20, "font-size": 13, "font-weight": 600, "class": "dag-label" });
      label.textContent = truncate(n.label, 22);
      g.appendChild(label);
      var kind = el("text", { x: 10, y: 36, "font-size": 11, "class": "dag-kind", opacity: 0.8 });
      kind.textContent = truncate(n.kind, 27);
      g.appendChild(kind);
      var status = el("text", { x: 10, y: 50, "font-size": 10, "class": "dag-status", "font-weight": 600 });
      g.appendChild(status);
      paint(g, statuses[id], n.missing);
      if (options.onNodeClick || n.href) {
        g.style.cursor = "pointer";
        var activate = function () {
          if (options.onNodeClick) options.onNodeClick(id);
          else global.location.href = n.href;
        };
        g.addEventListener("click", activate);
        g.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); activate(); } });
      }
      nodeLayer.appendChild(g);
    });
    svg.appendChild(nodeLayer);
    return svg;
  }

  function setStatuses(target, statuses) {
    var svg = resolveTarget(target);
    svg.querySelectorAll("g.dag-node").forEach(function (g) {
      if (g.getAttribute("data-status") === "missing") return;
      paint(g, (statuses || {})[g.getAttribute("data-node-id")], false);
    });
  }

  function fromDefinition(doc) {
    var nodes = [], edges = [];
    var workflows = doc && Array.isArray(doc.workflows) ? doc.workflows : [];
    workflows.forEach(function (w, i) {
      if (!w || typeof w !== "object") return;
      var id = w.id ? String(w.id) : "#" + (i + 1);
      nodes.push({ id: id, label: w.name || id, kind: w.workflow || "" });
      var deps = Array.isArray(w.dependsOn) ? w.dependsOn : (typeof w.dependsOn === "string" ? [w.dependsOn] : []);
      deps.forEach(function (dep) { if (dep !== "" && dep != null) edges.push({ from: String(dep), to: id }); });
    });
    return { nodes: nodes, edges: edges };
  }

  global.WebautoDag = { render: render, setStatuses: setStatuses, fromDefinition: fromDefinition, palette: PALETTE };
})(window);
