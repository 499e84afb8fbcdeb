/* WebautoForm: small DOM helpers and a form generated from a JSON Schema.
 *
 *   WebautoForm.schemaFields(schema, value, onSet, options) -> element
 *     One input per property of an object schema: enum -> select, boolean ->
 *     select, number/integer/string -> text box (a number, or a ${reference}),
 *     array of simple items -> one item per line, anything else -> a JSON box.
 *     onSet(key, newValue) is called on every edit (undefined = remove the key).
 *     options: {pathPrefix: "workflows[0].config", classPrefix: "cfg-"}
 *   WebautoForm.hasFormFields(schema) -> true when schemaFields has something to show
 *
 * Text is always set through textContent or value, never parsed as markup.
 */
(function (global) {
  "use strict";

  function h(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "value") node.value = value;
      else if (key === "checked" || key === "selected" || key === "readOnly" || key === "open") node[key] = !!value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  function numberOrText(text) {
    var trimmed = String(text).trim();
    if (trimmed === "") return undefined;
    return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
  }

  var fieldCount = 0;

  /* A labelled field. The label is tied to its control (for/id), so that
   * assistive technology names every input. */
  function field(label, input, help, path) {
    if (path) input.setAttribute("data-path", path);
    var labelAttrs = { text: label };
    // The control itself, or the one control inside a wrapper (a JSON area and its message).
    var controls = /^(INPUT|SELECT|TEXTAREA)$/.test(input.tagName) ? [input] : input.querySelectorAll("input, select, textarea");
    if (controls.length === 1) {
      if (!controls[0].id) controls[0].id = "field-auto-" + (++fieldCount);
      labelAttrs["for"] = controls[0].id;
    }
    return h("div", { "class": "field" }, [
      h("label", labelAttrs),
      input,
      help ? h("div", { "class": "help", text: help }) : null
    ]);
  }

  function textInput(value, onInput, attrs) {
    var input = h("input", Object.assign({ type: "text", value: value === undefined || value === null ? "" : String(value) }, attrs || {}));
    input.addEventListener("input", function () { onInput(input.value); });
    return input;
  }

  function select(options, current, onChange, attrs) {
    var known = options.some(function (o) { return o[0] === current; });
    var all = known || current === undefined || current === "" ? options : options.concat([[current, String(current)]]);
    var el = h("select", attrs || {}, all.map(function (o) {
      return h("option", { value: o[0], text: o[1], selected: o[0] === current });
    }));
    el.addEventListener("change", function () { onChange(el.value); });
    return el;
  }

  function jsonArea(value, onValid, attrs, rows) {
    var area = h("textarea", Object.assign({ rows: rows || 3, spellcheck: "false", "class": "json-input" }, attrs || {}));
    area.value = value === undefined ? "" : JSON.stringify(value, null, 2);
    var message = h("div", { "class": "help bad", hidden: true });
    area.addEventListener("input", function () {
      var text = area.value.trim();
      if (text === "") { message.hidden = true; area.classList.remove("invalid"); onValid(undefined); return; }
      try {
        var parsed = JSON.parse(text);
        message.hidden = true; area.classList.remove("invalid"); onValid(parsed);
      } catch (e) {
        area.classList.add("invalid"); message.hidden = false; message.textContent = "Not valid JSON yet: " + e.message;
      }
    });
    return h("div", { "class": "json-wrap" }, [area, message]);
  }

  function schemaType(schema) {
    var t = schema && schema.type;
    if (Array.isArray(t)) t = t.filter(function (x) { return x !== "null"; })[0];
    return t || "";
  }

  function isSimpleProperty(schema) {
    var t = schemaType(schema);
    if (schema.enum) return true;
    if (t === "string" || t === "number" || t === "integer" || t === "boolean") return true;
    if (t === "array") { var it = schemaType(schema.items || {}); return it === "string" || it === "number" || it === "integer"; }
    return false;
  }

  function hasFormFields(schema) {
    return isObject(schema) && isObject(schema.properties) && Object.keys(schema.properties).length > 0;
  }

  function schemaFields(schema, value, onSet, options) {
    options = options || {};
    var props = schema.properties;
    var config = isObject(value) ? value : {};
    var pathPrefix = options.pathPrefix || "";
    var classPrefix = options.classPrefix || "field-";
    var required = Array.isArray(schema.required) ? schema.required : [];
    var grid = h("div", { "class": "field-grid" });
    Object.keys(props).forEach(function (key) {
      var prop = isObject(props[key]) ? props[key] : {};
      var path = pathPrefix ? pathPrefix + "." + key : key;
      var label = key + (required.indexOf(key) >= 0 ? " *" : "");
      var help = prop.description || "";
      var set = function (v) { onSet(key, v); };
      var current = config[key];
      var t = schemaType(prop);
      var input;
      if (!isSimpleProperty(prop)) {
        input = jsonArea(current, set, { "class": "json-input " + classPrefix + key, placeholder: prop["default"] !== undefined ? "default: " + JSON.stringify(prop["default"]) : "not set (JSON)" });
        grid.appendChild(field(label, input, help || "JSON value", path));
        return;
      }
      if (prop.enum) {
        input = select([["", "(not set)"]].concat(prop.enum.map(function (v) { return [String(v), String(v)]; })), current === undefined ? "" : String(current),
          function (v) {
            var match = prop.enum.filter(function (e) { return String(e) === v; });
            set(v === "" ? undefined : match.length ? match[0] : v);
          }, { "class": classPrefix + key });
      } else if (t === "boolean") {
        input = select([["", "(not set)"], ["true", "true"], ["false", "false"]], current === undefined ? "" : String(current),
          function (v) { set(v === "" ? undefined : v === "true" ? true : v === "false" ? false : v); }, { "class": classPrefix + key });
      } else if (t === "array") {
        input = h("textarea", { rows: 3, "class": "plain " + classPrefix + key, placeholder: "not set (one per line)" });
        input.value = Array.isArray(current) ? current.join("\n") : current === undefined ? "" : String(current);
        input.addEventListener("input", function () {
          var text = input.value.trim();
          if (/^\$\{[^}]+\}$/.test(text)) { set(text); return; }
          var items = text.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
          var itemType = schemaType(prop.items || {});
          set(items.length ? items.map(function (s) { return itemType === "string" ? s : numberOrText(s); }) : undefined);
        });
      } else if (t === "number" || t === "integer") {
        input = textInput(current, function (v) { set(numberOrText(v)); },
          { inputmode: "decimal", "class": classPrefix + key, placeholder: prop["default"] !== undefined ? "default: " + String(prop["default"]) : "not set (a number or ${param})" });
      } else {
        input = textInput(current, function (v) { set(v === "" ? undefined : v); },
          { "class": classPrefix + key, placeholder: prop["default"] !== undefined ? "default: " + String(prop["default"]) : "not set" });
      }
      grid.appendChild(field(label, input, help, path));
    });
    return grid;
  }

  global.WebautoForm = {
    h: h, isObject: isObject, numberOrText: numberOrText, field: field, textInput: textInput,
    select: select, jsonArea: jsonArea, schemaType: schemaType, hasFormFields: hasFormFields, schemaFields: schemaFields
  };
})(window);
