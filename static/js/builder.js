/* The DAG builder.
 *
 * One textarea (#definition-json) holds the task definition and is the only
 * state that is posted (to validate and to save). The form below is drawn from
 * it and writes every edit straight back into it; editing the textarea, or
 * importing a file, redraws the form. After each write a "definition-changed"
 * event on the textarea makes htmx post it to the validation endpoint.
 *
 * All text from the definition is put into the page with textContent/value,
 * never as markup.
 */
(function () {
  "use strict";

  var textarea = document.getElementById("definition-json");
  var taskFields = document.getElementById("task-fields");
  var nodeEditors = document.getElementById("node-editors");
  var graphBox = document.getElementById("builder-dag");
  var brokenNotice = document.getElementById("json-broken");
  var importMessage = document.getElementById("import-message");
  var readonlyTaskId = document.getElementById("task-settings").getAttribute("data-readonly-task-id") === "true";
  var kinds = JSON.parse(document.getElementById("kinds-data").textContent);
  var priorities = JSON.parse(document.getElementById("priorities-data").textContent);

  var kindByName = {};
  kinds.forEach(function (k) {
    kindByName[k.name] = k;
    (k.aliases || []).forEach(function (a) { kindByName[a] = k; });
  });

  var doc = {};
  var openNodes = {};       // node index -> true when its editor is open
  var configAsJson = {};    // node index -> true when its config is edited as raw JSON
  var nodeErrors = {};
  var selectedNode = null;
  var dirty = false;
  var submitting = false;

  // ---------------------------------------------------------------- helpers
  var h = WebautoForm.h, field = WebautoForm.field, textInput = WebautoForm.textInput;

  // Help texts come from the published task-definition schema (the same one
  // the server validates with): a field without its own help shows the
  // schema's description of its path.
  var contractSchema = JSON.parse(document.getElementById("definition-schema").textContent);
  function resolveRef(node) {
    var seen = 0;
    while (node && typeof node.$ref === "string" && node.$ref.indexOf("#/$defs/") === 0 && seen++ < 10) {
      var own = node.description;
      node = (contractSchema.$defs || {})[node.$ref.slice(8)];
      if (node && own) node = Object.assign({}, node, { description: own });
    }
    return node;
  }
  function describe(path) {
    if (!path) return null;
    var node = contractSchema;
    var steps = path.replace(/\[\d+\]/g, ".[]").split(".").filter(Boolean);
    for (var i = 0; i < steps.length && node; i++) {
      node = resolveRef(node);
      node = steps[i] === "[]" ? node.items : (node.properties || {})[steps[i]];
    }
    node = resolveRef(node);
    return node && node.description ? node.description : null;
  }
  var plainField = field;
  field = function (label, input, help, path) { return plainField(label, input, help || describe(path), path); };
  var select = WebautoForm.select, jsonArea = WebautoForm.jsonArea, numberOrText = WebautoForm.numberOrText;
  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function nodes() { if (!Array.isArray(doc.workflows)) doc.workflows = []; return doc.workflows; }
  function nodeId(node, index) { return node && node.id ? String(node.id) : "#" + (index + 1); }

  function setKey(obj, key, value) {
    if (value === undefined || value === "" || (Array.isArray(value) && !value.length && key !== "workflows")) delete obj[key];
    else obj[key] = value;
  }

  function setIn(obj, parentKey, key, value) {
    var parent = isObject(obj[parentKey]) ? obj[parentKey] : {};
    setKey(parent, key, value);
    if (Object.keys(parent).length) obj[parentKey] = parent; else delete obj[parentKey];
  }

  /* How a parameter value is shown in one text box: strings as they are unless
   * they would read back as another type, everything else as JSON. */
  function valueText(value) {
    if (typeof value === "string") {
      try { JSON.parse(value); return JSON.stringify(value); } catch (e) { return value; }
    }
    return JSON.stringify(value);
  }
  function parseValueText(text) {
    try { return JSON.parse(text); } catch (e) { return text; }
  }

  // ------------------------------------------------------------ state sync
  function commit() {
    textarea.value = JSON.stringify(doc, null, 2);
    brokenNotice.hidden = true;
    dirty = true;
    drawGraph();
    textarea.dispatchEvent(new Event("definition-changed"));
  }

  function loadFromTextarea() {
    var parsed;
    try { parsed = JSON.parse(textarea.value); } catch (e) { brokenNotice.hidden = false; return false; }
    if (!isObject(parsed)) { brokenNotice.hidden = false; return false; }
    brokenNotice.hidden = true;
    doc = parsed;
    return true;
  }

  // ----------------------------------------------------------------- graph
  function drawGraph() {
    var data = WebautoDag.fromDefinition(doc);
    WebautoDag.render(graphBox, data.nodes, data.edges, {}, {
      errors: nodeErrors,
      selected: selectedNode,
      emptyText: "Add a node to start the graph.",
      direction: "auto",
      onNodeClick: function (id) {
        var index = nodes().findIndex(function (n, i) { return nodeId(n, i) === id; });
        if (index >= 0) focusNode(index);
      }
    });
  }

  function focusNode(index) {
    openNodes[index] = true;
    selectedNode = nodeId(nodes()[index], index);
    var card = nodeEditors.querySelector('[data-node-index="' + index + '"]');
    if (card) {
      card.open = true;
      card.scrollIntoView({ behavior: "smooth", block: "start" });
      card.classList.add("flash");
      setTimeout(function () { card.classList.remove("flash"); }, 900);
    }
    drawGraph();
  }

  // --------------------------------------------------------- task settings
  function renderTask() {
    taskFields.replaceChildren();
    var grid = h("div", { "class": "field-grid" });
    var idInput = textInput(doc.taskId, function (v) { setKey(doc, "taskId", v.trim()); commit(); },
      { id: "field-taskId", placeholder: "e.g. weekly-report (letters, digits, - and _)", readOnly: readonlyTaskId, required: true });
    grid.appendChild(field("Task id *", idInput, readonlyTaskId ? "The id of a saved task cannot change." : "Letters, digits, - and _. Used in URLs and the API.", "taskId"));
    grid.appendChild(field("Name *", textInput(doc.name, function (v) { setKey(doc, "name", v); commit(); }, { id: "field-name" }), null, "name"));
    grid.appendChild(field("Category", textInput(doc.category, function (v) { setKey(doc, "category", v.trim()); commit(); }, { id: "field-category" }), null, "category"));
    grid.appendChild(field("Tags", textInput(Array.isArray(doc.tags) ? doc.tags.join(", ") : (doc.tags || ""), function (v) {
      setKey(doc, "tags", v.split(",").map(function (t) { return t.trim(); }).filter(Boolean)); commit();
    }, { id: "field-tags", placeholder: "e.g. news, daily (comma-separated)" }), null, "tags"));
    grid.appendChild(field("Priority", select(priorities.map(function (p) { return [p, p]; }), doc.priority || "normal",
      function (v) { setKey(doc, "priority", v); commit(); }, { id: "field-priority" }), null, "priority"));
    grid.appendChild(field("On node failure", select([["", "default (continue)"], ["continue-on-error", "continue-on-error"], ["stop-on-error", "stop-on-error"]],
      (doc.errorHandling || {}).strategy || "", function (v) { setIn(doc, "errorHandling", "strategy", v); commit(); }, { id: "field-strategy" }),
      "stop-on-error cancels the rest of the run at the first failure.", "errorHandling.strategy"));
    grid.appendChild(field("Task timeout (ms)", textInput(doc.timeout, function (v) { setKey(doc, "timeout", numberOrText(v)); commit(); },
      { inputmode: "numeric", placeholder: "no timeout", id: "field-timeout" }), null, "timeout"));
    grid.appendChild(field("Task retries", textInput(doc.maxRetries, function (v) { setKey(doc, "maxRetries", numberOrText(v)); commit(); },
      { inputmode: "numeric", placeholder: "default: 0 (no retry)", id: "field-maxRetries" }), null, "maxRetries"));
    grid.appendChild(field("Retry delay (ms)", textInput(doc.retryDelay, function (v) { setKey(doc, "retryDelay", numberOrText(v)); commit(); },
      { inputmode: "numeric", placeholder: "default: 0", id: "field-retryDelay" }), null, "retryDelay"));
    taskFields.appendChild(grid);

    var description = h("textarea", { rows: 2, id: "field-description", "class": "plain" });
    description.value = doc.description || "";
    description.addEventListener("input", function () { setKey(doc, "description", description.value); commit(); });
    taskFields.appendChild(field("Description", description, null, "description"));

    taskFields.appendChild(renderParameters());

    var advanced = h("details", { "class": "sub" }, [h("summary", { text: "Schedule, notifications, resources (JSON)" })]);
    [["schedule", "Schedule", 'e.g. {"type": "cron", "expression": "0 */2 * * *", "timezone": "UTC"}'],
     ["notificationChannels", "Notification channels", 'e.g. [{"type": "email", "config": {"recipients": ["ops@example.com"]}}]'],
     ["resourceRequirements", "Resource requirements", 'e.g. {"cpu": 2, "memory": "1GB"}']].forEach(function (spec) {
      advanced.appendChild(field(spec[1], jsonArea(doc[spec[0]], function (v) { setKey(doc, spec[0], v); commit(); },
        { placeholder: spec[2], "data-path": spec[0] }), null, spec[0]));
    });
    advanced.open = ["schedule", "notificationChannels", "resourceRequirements"].some(function (key) {
      var v = doc[key];
      return v !== undefined && v !== null && !(Array.isArray(v) && !v.length) && !(isObject(v) && !Object.keys(v).length);
    });
    taskFields.appendChild(advanced);
  }

  function renderParameters() {
    var wrap = h("div", { "class": "field params", "data-path": "parameters" }, [h("label", { text: "Parameters" })]);
    var params = isObject(doc.parameters) ? doc.parameters : {};
    var table = h("div", { "class": "param-rows" });
    function rebuild(entries) {
      var next = {};
      entries.forEach(function (e) { if (e[0] !== "") next[e[0]] = e[1]; });
      doc.parameters = next;
      commit();
    }
    var entries = Object.keys(params).map(function (k) { return [k, params[k]]; });
    entries.forEach(function (entry, i) {
      var name = textInput(entry[0], function () {}, { placeholder: "parameter name", "class": "param-name", "data-path": "parameters." + entry[0], "aria-label": "Parameter name" });
      name.addEventListener("change", function () { entries[i][0] = name.value.trim(); rebuild(entries); renderTask(); });
      var value = textInput(valueText(entry[1]), function (v) { entries[i][1] = parseValueText(v); rebuild(entries); },
        { placeholder: "value (text, number, true/false or JSON)", "class": "param-value", "data-path": "parameters." + entry[0],
          "aria-label": "Value of parameter " + entry[0] });
      var remove = h("button", { type: "button", "class": "btn small secondary", text: "Remove", title: "Remove parameter",
        onclick: function () { entries.splice(i, 1); rebuild(entries); renderTask(); } });
      table.appendChild(h("div", { "class": "param-row" }, [name, value, remove]));
    });
    wrap.appendChild(table);
    wrap.appendChild(h("button", { type: "button", "class": "btn small secondary", text: "+ Add parameter", id: "add-parameter",
      onclick: function () {
        var n = 1; while (("param" + n) in params) n++;
        params["param" + n] = ""; doc.parameters = params; commit(); renderTask();
      } }));
    wrap.appendChild(h("div", { "class": "help", text: "Use a parameter anywhere in a config as ${name}; other ${name}s resolve from upstream nodes or stored secrets." }));
    return wrap;
  }

  // ------------------------------------------------------------ node cards
  /* Copy which cards are open from the page into openNodes. A click on a
   * summary changes the card's ``open`` at once, but its "toggle" event is a
   * task queued for later: an edit that redraws the cards before that task
   * runs (a busy browser does) would otherwise draw the card as it was. */
  function rememberOpenCards() {
    nodeEditors.querySelectorAll("details.node-editor").forEach(function (card) {
      openNodes[Number(card.getAttribute("data-node-index"))] = card.open;
    });
  }

  /* Redraw the node cards, open as they are on the page. With
   * ``renumbered`` (nodes were removed, or a new document imported) the cards
   * on the page no longer match the indices: openNodes, which the caller set,
   * is used as it is. */
  function renderNodes(renumbered) {
    if (!renumbered) rememberOpenCards();
    nodeEditors.replaceChildren();
    var list = nodes();
    if (!list.length) {
      nodeEditors.appendChild(h("p", { "class": "empty", text: "No nodes yet: add the first workflow node." }));
    }
    list.forEach(function (node, index) { nodeEditors.appendChild(nodeCard(node, index)); });
  }

  function nodeCard(node, index) {
    if (!isObject(node)) {
      return h("div", { "class": "node-editor bad", "data-node-index": index, text: "workflows[" + index + "] is not an object; fix it in the JSON panel." });
    }
    var id = nodeId(node, index);
    var base = "workflows[" + index + "]";
    var card = h("details", { "class": "node-editor", "data-node-index": index, open: !!openNodes[index] });
    // A late event from a card already redrawn must not speak for its successor.
    card.addEventListener("toggle", function () { if (card.isConnected) openNodes[index] = card.open; });
    var summary = h("summary", {}, [
      h("span", { "class": "node-num", text: String(index + 1) }),
      h("strong", { "class": "node-title", text: node.name && node.name !== id ? node.name + " (" + id + ")" : id }),
      h("span", { "class": "mono small muted", text: node.workflow || "no kind yet" }),
      h("span", { "class": "badge status-failed problem-badge", text: "problem", title: nodeErrors[id] || "", hidden: !nodeErrors[id] }),
      h("span", { "class": "spacer" }),
      h("button", { type: "button", "class": "btn small secondary remove-node", text: "Remove", title: "Remove this node",
        onclick: function (ev) {
          ev.preventDefault();
          if (window.confirm("Remove node " + id + "? Nodes that depend on it lose that dependency.")) removeNode(index);
        } })
    ]);
    card.appendChild(summary);
    var body = h("div", { "class": "node-body" });
    card.appendChild(body);

    var grid = h("div", { "class": "field-grid" });
    var idInput = textInput(node.id, function () {}, { "class": "node-id", placeholder: "e.g. fetch" });
    idInput.addEventListener("change", function () { renameNode(index, idInput.value.trim()); });
    grid.appendChild(field("Node id *", idInput, null, base + ".id"));
    grid.appendChild(field("Name", textInput(node.name, function (v) { setKey(node, "name", v); commit(); }, { "class": "node-name" }), null, base + ".name"));

    var listId = "kinds-list";
    var kindInput = textInput(node.workflow, function () {}, { list: listId, "class": "node-kind", placeholder: "choose a workflow kind" });
    var kindHelp = h("div", { "class": "help kind-help" });
    function describeKind() {
      var k = kindByName[node.workflow];
      kindHelp.textContent = k ? (k.description || "") : (node.workflow ? "Not a known kind: pick one from the list." : "");
      if (k && k.output) kindHelp.title = "Output: " + k.output;
    }
    kindInput.addEventListener("change", function () {
      setKey(node, "workflow", kindInput.value.trim());
      if (!isObject(node.config)) node.config = {};
      delete configAsJson[index];
      commit();
      renderNodes();
    });
    describeKind();
    grid.appendChild(field("Workflow kind *", kindInput, null, base + ".workflow"));
    grid.appendChild(kindHelp);
    body.appendChild(grid);

    body.appendChild(dependsEditor(node, index, base));
    body.appendChild(conditionEditor(node, base));

    var grid2 = h("div", { "class": "field-grid" });
    var deps = Array.isArray(node.dependsOn) ? node.dependsOn : [];
    var inputOptions = h("datalist", { id: "inputfrom-" + index }, deps.map(function (d) { return h("option", { value: d + ".output" }); }));
    grid2.appendChild(field("Input from", textInput(node.inputFrom, function (v) { setKey(node, "inputFrom", v.trim()); commit(); },
      { list: "inputfrom-" + index, "class": "node-inputfrom", placeholder: deps.length ? "none: the node gets {} (e.g. " + deps[0] + ".output)" : "none: the node gets {}" }), "Passes that node's output as this node's input.", base + ".inputFrom"));
    grid2.appendChild(inputOptions);
    var exec = isObject(node.execution) ? node.execution : {};
    grid2.appendChild(field("Retries", textInput(exec.retryAttempts, function (v) { setIn(node, "execution", "retryAttempts", numberOrText(v)); commit(); },
      { inputmode: "numeric", placeholder: "default: 0 (no retry)", "class": "node-retries" }), null, base + ".execution.retryAttempts"));
    grid2.appendChild(field("Timeout (ms)", textInput(exec.timeout, function (v) { setIn(node, "execution", "timeout", numberOrText(v)); commit(); },
      { inputmode: "numeric", placeholder: "no timeout", "class": "node-timeout" }), null, base + ".execution.timeout"));
    grid2.appendChild(field("Node priority", select([["", "task's priority"]].concat(priorities.map(function (p) { return [p, p]; })), exec.priority || "",
      function (v) { setIn(node, "execution", "priority", v); commit(); }), null, base + ".execution.priority"));
    var stopValue = node.stopOnFailure === true ? "true" : node.stopOnFailure === false ? "false" : "";
    grid2.appendChild(field("Stop on failure", select([["", "task default"], ["true", "yes: cancel the rest"], ["false", "no: carry on"]], stopValue,
      function (v) { setKey(node, "stopOnFailure", v === "" ? undefined : v === "true"); commit(); }, { "class": "node-stop" }), null, base + ".stopOnFailure"));
    body.appendChild(grid2);

    body.appendChild(configEditor(node, index, base));
    return card;
  }

  function dependsEditor(node, index, base) {
    var wrap = h("div", { "class": "field", "data-path": base + ".dependsOn" }, [h("label", { text: "Depends on" })]);
    var others = nodes().map(nodeId).filter(function (other, i) { return i !== index; });
    var deps = Array.isArray(node.dependsOn) ? node.dependsOn.map(String) : [];
    deps.forEach(function (d) { if (others.indexOf(d) < 0) others.push(d); });
    if (!others.length) { wrap.appendChild(h("div", { "class": "help", text: "No other nodes yet." })); return wrap; }
    var boxes = h("div", { "class": "checks" });
    others.forEach(function (other) {
      var box = h("input", { type: "checkbox", value: other, checked: deps.indexOf(other) >= 0, "class": "dep-check", "data-dep": other });
      box.addEventListener("change", function () {
        var current = Array.isArray(node.dependsOn) ? node.dependsOn.slice() : [];
        if (box.checked) { if (current.indexOf(other) < 0) current.push(other); }
        else current = current.filter(function (d) { return d !== other; });
        setKey(node, "dependsOn", current);
        commit();
        renderNodes();
      });
      var known = nodes().some(function (n, i) { return nodeId(n, i) === other; });
      boxes.appendChild(h("label", { "class": "check" + (known ? "" : " bad") }, [box, " " + other + (known ? "" : " (missing)")]));
    });
    wrap.appendChild(boxes);
    return wrap;
  }

  function conditionEditor(node, base) {
    var cond = isObject(node.condition) ? node.condition : null;
    var type = cond ? String(cond.type || "") : "";
    var wrap = h("div", { "class": "field-grid condition" });
    wrap.appendChild(field("Condition", select([["", "always run"], ["expression", "expression"], ["content-change", "content change"]], type, function (v) {
      if (!v) delete node.condition;
      else node.condition = Object.assign({}, v === type ? cond : {}, { type: v }, v === "content-change" && !(cond && cond.threshold !== undefined) ? { threshold: 0.1 } : {});
      commit();
      renderNodes();
    }, { "class": "node-condition" }), null, base + ".condition"));
    if (type === "expression") {
      wrap.appendChild(field("Expression", textInput(cond.expression, function (v) { cond.expression = v; commit(); },
        { "class": "node-expression wide", placeholder: "e.g. monitoring.hasChanges and monitoring.changeRatio > 0.2" }),
        "Comparisons, and/or/not, arithmetic and member access over parameters and upstream outputs.", base + ".condition.expression"));
    } else if (type === "content-change") {
      wrap.appendChild(field("Threshold (0–1)", textInput(cond.threshold, function (v) { cond.threshold = numberOrText(v); commit(); },
        { inputmode: "decimal", "class": "node-threshold" }), "Runs when the upstream changeRatio is at least this.", base + ".condition.threshold"));
    }
    return wrap;
  }

  function configEditor(node, index, base) {
    var wrap = h("div", { "class": "config" });
    var kind = kindByName[node.workflow];
    var schema = kind && isObject(kind.schema) ? kind.schema : null;
    var props = schema && isObject(schema.properties) ? schema.properties : null;
    var config = isObject(node.config) ? node.config : {};
    var unknown = Object.keys(config).filter(function (k) { return !props || !(k in props); });
    var canForm = WebautoForm.hasFormFields(schema);
    var asJson = configAsJson[index] !== undefined ? configAsJson[index] : !canForm || unknown.length > 0;

    var head = h("div", { "class": "config-head" }, [h("label", { text: "Config" })]);
    if (canForm) {
      head.appendChild(h("button", { type: "button", "class": "link-btn small config-mode", text: asJson ? "Edit as form" : "Edit as JSON",
        onclick: function () { configAsJson[index] = !asJson; renderNodes(); } }));
    }
    wrap.appendChild(head);
    if (asJson) {
      if (canForm && unknown.length) wrap.appendChild(h("div", { "class": "help", text: "Shown as JSON because it has keys the schema does not list: " + unknown.join(", ") }));
      wrap.appendChild(jsonArea(config, function (v) { node.config = v === undefined ? {} : v; commit(); },
        { "class": "json-input node-config-json", "data-path": base + ".config" }, 5));
      if (schema) {
        wrap.appendChild(h("details", { "class": "sub" }, [h("summary", { text: "Config schema" }), h("pre", { text: JSON.stringify(schema, null, 2) })]));
      }
      return wrap;
    }
    wrap.appendChild(WebautoForm.schemaFields(schema, config, function (key, v) {
      if (!isObject(node.config)) node.config = {};
      setKey(node.config, key, v);
      commit();
    }, { pathPrefix: base + ".config", classPrefix: "cfg-" }));
    return wrap;
  }

  // --------------------------------------------------------- node changes
  function addNode() {
    var list = nodes();
    var taken = {};
    list.forEach(function (n, i) { taken[nodeId(n, i)] = true; });
    var n = list.length + 1;
    while (taken["node" + n]) n++;
    list.push({ id: "node" + n, name: "", workflow: "", config: {} });
    openNodes[list.length - 1] = true;
    commit();
    renderNodes();
    focusNode(list.length - 1);
  }

  function removeNode(index) {
    rememberOpenCards();
    var list = nodes();
    var removed = nodeId(list[index], index);
    list.splice(index, 1);
    list.forEach(function (n) {
      if (!isObject(n)) return;
      if (Array.isArray(n.dependsOn)) setKey(n, "dependsOn", n.dependsOn.filter(function (d) { return d !== removed; }));
      if (typeof n.inputFrom === "string" && n.inputFrom.split(".")[0] === removed) delete n.inputFrom;
    });
    var reopen = {};
    Object.keys(openNodes).forEach(function (k) { k = Number(k); if (k < index) reopen[k] = openNodes[k]; else if (k > index) reopen[k - 1] = openNodes[k]; });
    openNodes = reopen;
    configAsJson = {};
    if (selectedNode === removed) selectedNode = null;
    commit();
    renderNodes(true);
  }

  /* Renaming a node also renames it where other nodes refer to it. */
  function renameNode(index, newId) {
    var list = nodes();
    var oldId = list[index].id;
    setKey(list[index], "id", newId);
    if (oldId && newId && oldId !== newId) {
      list.forEach(function (n, i) {
        if (i === index || !isObject(n)) return;
        if (Array.isArray(n.dependsOn)) n.dependsOn = n.dependsOn.map(function (d) { return d === oldId ? newId : d; });
        if (typeof n.inputFrom === "string" && n.inputFrom.split(".")[0] === oldId) n.inputFrom = newId + n.inputFrom.slice(oldId.length);
      });
      if (selectedNode === oldId) selectedNode = newId;
    }
    commit();
    renderNodes();
  }

  // ------------------------------------------------------- validation view
  function readValidation() {
    var script = document.getElementById("node-errors");
    var parsed = script ? JSON.parse(script.textContent || "{}") : {};
    nodeErrors = isObject(parsed) ? parsed : {};
    var errorsScript = document.getElementById("validation-errors");
    var errors = errorsScript ? JSON.parse(errorsScript.textContent || "[]") : [];
    document.querySelectorAll("#builder-form .has-error").forEach(function (el) { el.classList.remove("has-error"); el.removeAttribute("title"); });
    (Array.isArray(errors) ? errors : []).forEach(function (e) {
      var target = bestPathMatch(e.path || "");
      if (target) { target.classList.add("has-error"); target.setAttribute("title", e.message); }
    });
    nodeEditors.querySelectorAll(".node-editor").forEach(function (card) {
      var index = Number(card.getAttribute("data-node-index"));
      var message = nodeErrors[nodeId(nodes()[index], index)];
      card.classList.toggle("has-problem", !!message);
      var badge = card.querySelector(".problem-badge");
      if (badge) { badge.hidden = !message; badge.title = message || ""; }
    });
    drawGraph();
  }

  /* The form element whose data-path is the longest prefix of an error's path. */
  function bestPathMatch(path) {
    var best = null, bestLength = -1;
    document.querySelectorAll("#builder-form [data-path]").forEach(function (el) {
      var p = el.getAttribute("data-path");
      if ((path === p || path.indexOf(p + ".") === 0 || path.indexOf(p + "[") === 0) && p.length > bestLength) { best = el; bestLength = p.length; }
    });
    return best;
  }

  document.getElementById("validation").addEventListener("click", function (ev) {
    var link = ev.target.closest("a.err-path");
    if (!link) return;
    ev.preventDefault();
    var path = link.getAttribute("data-path") || "";
    var match = /^workflows\[(\d+)\]/.exec(path);
    if (match && Number(match[1]) < nodes().length) focusNode(Number(match[1]));
    var target = bestPathMatch(path);
    if (target) {
      var input = target.matches("input,select,textarea") ? target : target.querySelector("input,select,textarea");
      (input || target).scrollIntoView({ behavior: "smooth", block: "center" });
      if (input) input.focus({ preventScroll: true });
    } else {
      document.getElementById("json-panel").open = true;
      textarea.focus();
    }
  });

  document.body.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "validation") readValidation();
  });

  // --------------------------------------------------- import and export
  document.getElementById("import-file").addEventListener("change", function (ev) {
    var file = ev.target.files && ev.target.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () {
      textarea.value = String(reader.result);
      importMessage.hidden = false;
      if (loadFromTextarea()) {
        importMessage.textContent = "Imported " + file.name + ". Check the form, then save.";
        textarea.value = JSON.stringify(doc, null, 2);
        openNodes = {}; configAsJson = {};
        renderAll(true);
      } else {
        importMessage.textContent = file.name + " is not a JSON object; it is in the JSON panel for you to fix.";
        document.getElementById("json-panel").open = true;
      }
      dirty = true;
      textarea.dispatchEvent(new Event("definition-changed"));
      ev.target.value = "";
    };
    reader.readAsText(file);
  });

  document.getElementById("export-json").addEventListener("click", function () {
    var blob = new Blob([textarea.value], { type: "application/json" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = ((doc.taskId || "task") + ".json").replace(/[^\w.\-]+/g, "_");
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
  });

  // ----------------------------------------------------- direct JSON edits
  var jsonTimer = null;
  textarea.addEventListener("input", function () {
    clearTimeout(jsonTimer);
    dirty = true;
    jsonTimer = setTimeout(function () { if (loadFromTextarea()) { configAsJson = {}; renderAll(); } }, 300);
  });

  document.getElementById("add-node").addEventListener("click", addNode);
  document.getElementById("builder-form").addEventListener("submit", function () { submitting = true; });
  window.addEventListener("beforeunload", function (ev) {
    if (dirty && !submitting) { ev.preventDefault(); ev.returnValue = ""; }
  });

  var kindList = h("datalist", { id: "kinds-list" }, Object.keys(kindByName).sort().map(function (name) {
    var k = kindByName[name];
    return h("option", { value: name, label: name === k.name ? (k.description || "").slice(0, 80) : "alias of " + k.name });
  }));
  document.body.appendChild(kindList);

  function renderAll(renumbered) {
    renderTask();
    renderNodes(renumbered);
    readValidation();
  }

  if (!loadFromTextarea()) document.getElementById("json-panel").open = true;
  renderAll();
})();
