// chainrule's interactive page: step through a recorded graph's forward and backward pass, edit its inputs,
// check gradients numerically, and train the book's two-layer net. Everything it shows comes from the graph's
// JSON (written by chainrule.draw.graphdata) or from engine.js recomputing it with the same rules.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  let data = JSON.parse(document.getElementById("chainrule-graph").textContent);  // replaced by a typed expression
  const catalogue = JSON.parse(document.getElementById("chainrule-catalogue").textContent);
  const training = JSON.parse(document.getElementById("chainrule-training").textContent);  // null: no Train view
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const html = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // what the drawing and the steps read off the graph: set again when a typed expression replaces it
  let nodesById, producer, F, B, TOTAL, outName, LR, items, edges;
  function derive() {
    nodesById = Object.fromEntries(data.nodes.map((n) => [n.id, n]));
    producer = Object.fromEntries(data.nodes.map((n) => [n.output, n.id]));
    F = data.nodes.length; B = data.backward.length;
    TOTAL = F + (B ? B + 1 : 0);  // 0: inputs; 1..F: forward; F+1: d output = 1; then one step per backward node
    outName = data.values[data.output].name;
    LR = data.layout.direction === "LR";
    items = data.layout.items;
    edges = [];  // {from, to, ref, node, index}
    for (const node of data.nodes)
      node.inputs.forEach((inp, i) => { if (inp.ref) edges.push({ from: producer[inp.ref] || inp.ref, to: node.id, ref: inp.ref, node: node.id, index: i }); });
    if (producer[data.output]) edges.push({ from: producer[data.output], to: data.output, ref: data.output, node: null, index: -1 });
  }
  derive();
  const state = { step: 0, view: "graph", edits: {}, model: null, error: "", notice: "", selected: null, checks: {} };

  // ---- the numbers shown: Python's at first, engine.js's after an edit -------------------------------------
  function modelFromPython() {
    const v = {};
    for (const [id, val] of Object.entries(data.values))
      v[id] = { label: val.label, tensor: CR.valueOf(val), grad: val.grad_label, gradTensor: val.grad ? CR.tensor(val.shape, val.grad) : null };
    const steps = data.backward.map((s) => ({
      node: s.node, upstream: s.upstream_label, upstreamTensor: s.upstream ? CR.tensor(shapeOfOutput(s.node), s.upstream) : null,
      sent: s.sent.map((x) => ({ ...x, tensor: x.value ? CR.tensor(data.values[x.input].shape, x.value) : null })),
    }));
    return { values: v, steps, branches: data.branches };
  }
  function shapeOfOutput(nodeId) { return data.values[nodesById[nodeId].output].shape; }

  function modelFromEngine() {
    const r = CR.compute(data, state.edits);
    const nonFinite = CR.nonFiniteReport(data, r);   // refused as `chainrule graph` refuses it (nonfinite.py)
    if (nonFinite) throw new Error(`${nonFinite}; choose values where every step is finite`);
    const v = {};
    for (const id of Object.keys(data.values)) {
      const t = r.vals[id], g = r.grads[id];
      v[id] = { label: t ? CR.formatValue(t) : data.values[id].label, tensor: t || null, grad: g ? CR.formatValue(g) : null, gradTensor: g || null };
    }
    const steps = r.steps.map((s) => {
      const node = nodesById[s.node], texts = CR.stepTexts(data, node, r.states[s.node], s.upstream, r.vals, s.sent);
      return {
        node: s.node, upstream: CR.formatValue(s.upstream), upstreamTensor: s.upstream,
        sent: texts.map((entry, k) => ({ ...entry, tensor: s.sent[k].value })),
      };
    });
    const branches = {};
    const terms = {};
    for (const s of steps) for (const x of s.sent) (terms[x.input] = terms[x.input] || []).push({ node: s.node, via: nodesById[s.node].label.replace("\n", " "), tensor: x.tensor });
    for (const [id, list] of Object.entries(terms)) if (list.length > 1) {
      const { texts, relation } = CR.sumEquation(list.map((t) => t.tensor), r.grads[id]);
      branches[id] = { terms: list.map((t, k) => ({ node: t.node, via: t.via, label: texts[k] })), relation, total: v[id].grad };
    }
    return { values: v, steps, branches };
  }

  function recompute() {
    state.error = "";
    if (!Object.keys(state.edits).length) { state.model = modelFromPython(); return; }
    try { state.model = modelFromEngine(); } catch (e) { state.error = String(e.message || e); }
  }

  // ---- the drawing ------------------------------------------------------------------------------------------
  // Text widths as the browser draws them (a canvas measures with the drawing's font); under a test without a
  // canvas, a generous estimate.
  const measureContext = (() => { try { return document.createElement("canvas").getContext("2d"); } catch (e) { return null; } })();
  const widths = {};
  function textWidth(text, font) {
    const key = font + "|" + text;
    if (!(key in widths)) {
      if (measureContext) { measureContext.font = font; widths[key] = measureContext.measureText(text).width; }
      else widths[key] = text.length * 8;
    }
    return widths[key];
  }
  const FONT = "13px Helvetica, Arial, sans-serif", BOLD = "bold 13px Helvetica, Arial, sans-serif", SMALL = "12px Helvetica, Arial, sans-serif", OP = "18px Helvetica, Arial, sans-serif";
  const LINE = 16;

  // what each item and each arrow's label will show once every step has run: the boxes are sized for it
  function itemLines(id) {
    const node = nodesById[id];
    if (node) {  // a short symbol in a circle, as the book draws ×, +, exp; longer names in a rounded box
      const round = !node.label.includes("\n") && textWidth(node.label, OP) <= 34;
      return node.label.split("\n").map((t) => ({ text: t, font: round ? OP : SMALL, cls: "op" + (round ? "" : " small"), round }));
    }
    const v = data.values[id], m = state.model.values[id], lines = [{ text: v.name, font: BOLD, cls: "name" }];
    if (v.role === "constant") for (const line of CR.labelLines(shortLabel(m))) lines.push({ text: line, font: SMALL, cls: "value small-value" });
    if ((v.role === "input" || v.role === "parameter") && m.grad !== null)
      for (const line of CR.labelLines(`d ${v.name} = ${shortLabel({ label: m.grad, tensor: m.gradTensor })}`)) lines.push({ text: line, font: "bold " + SMALL, cls: "grad total" });
    return lines;
  }
  function itemSize(id) {
    const node = nodesById[id], lines = itemLines(id);
    if (node && lines[0].round) return { w: 46, h: 46, circle: true };
    const w = Math.max(...lines.map((l) => textWidth(l.text, l.font))) + 22;
    const extra = items[id] && items[id].kind === "output" ? 8 : 0;
    return { w: Math.max(w, 46) + extra, h: lines.length * LINE + 14 + extra };
  }
  function edgeTexts(e) {
    const value = data.values[e.ref];
    const valueText = value.role === "constant" ? "" : (producer[e.ref] ? `${value.name} = ` : "") + shortLabel(state.model.values[e.ref]);
    const grad = B ? gradientAtEnd(e) : null;
    return { valueText, gradText: grad ? shortLabel(grad) : "" };
  }
  function labelSize(k) {
    const { valueText, gradText } = edgeTexts(edges[k]);
    const v = CR.labelLines(valueText), g = CR.labelLines(gradText);
    const vw = Math.max(...v.map((t) => textWidth(t, FONT))), gw = Math.max(...g.map((t) => textWidth(t, BOLD)));
    return LR ? { w: Math.max(vw, gw, 10) + 12, h: (v.length + g.length) * LINE + 4 * CR.ROUTE.lineGap + 6 }
              : { w: 2 * Math.max(vw, gw, 10) + 24, h: Math.max(v.length, g.length) * LINE + 8 };
  }
  let geometry = null, geometryOf = null;
  // Left to right as the book draws, unless top to bottom fits the drawing area at a larger scale (a long graph,
  // a phone held upright): the whole graph is shown as large as it can be.
  function layoutNow() {
    const area = $("graph").getBoundingClientRect(), key = `${Math.round(area.width)}x${Math.round(area.height)}`;
    if (geometryOf === state.model && geometry.area === key) return geometry;
    const order = Object.keys(items);
    const candidates = ["LR", "TB"].map((direction) => {
      LR = direction === "LR";
      const g = CR.routedLayout(order, edges, direction, itemSize, labelSize, data.layout.graphviz || null);
      g.scale = area.width > 0 && area.height > 0 ? Math.min(area.width / g.width, area.height / g.height) : (LR ? 1 : 0);
      return g;
    });
    // the book's way, left to right, while its text stays readable or top to bottom is not much larger
    const [lr, tb] = candidates;
    geometry = lr.scale >= 0.8 || lr.scale * 1.5 >= tb.scale ? lr : tb;
    LR = geometry.direction === "LR";
    geometry.area = key;
    geometryOf = state.model;
    if (view.fitted) view.box = null;
    return geometry;
  }

  // the zoom: a view box over the drawing, fitted to the window at first; wheel, drag, pinch, + − 0 and buttons
  const view = { box: null, fitted: true };
  function fitView() { view.fitted = true; const g = layoutNow(); view.box = { x: 0, y: 0, w: g.width, h: g.height }; applyView(); }
  function applyView() { if (view.box) $("graph").setAttribute("viewBox", `${view.box.x} ${view.box.y} ${view.box.w} ${view.box.h}`); }
  function zoom(factor, cx, cy) {
    const b = view.box;
    if (!b) return;
    const px = cx === undefined ? b.x + b.w / 2 : cx, py = cy === undefined ? b.y + b.h / 2 : cy;
    const g = layoutNow(), w = Math.min(Math.max(b.w / factor, 40), g.width * 4), h = w * b.h / b.w;
    view.box = { x: px - (px - b.x) * w / b.w, y: py - (py - b.y) * h / b.h, w, h };
    view.fitted = false;
    applyView();
  }
  function pan(dx, dy) { const b = view.box; if (!b) return; view.box = { ...b, x: b.x + dx, y: b.y + dy }; view.fitted = false; applyView(); }
  function svgPoint(evt) {
    const svg = $("graph"), ctm = svg.getScreenCTM();
    if (!ctm) return { x: 0, y: 0 };
    const pt = svg.createSVGPoint();
    pt.x = evt.clientX; pt.y = evt.clientY;
    const p = pt.matrixTransform(ctm.inverse());
    return { x: p.x, y: p.y };
  }
  function setUpZoom() {
    const svg = $("graph"), pointers = new Map();
    let pinch = null;
    svg.addEventListener("wheel", (e) => { e.preventDefault(); const p = svgPoint(e); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, p.x, p.y); }, { passive: false });
    svg.addEventListener("pointerdown", (e) => {
      if (e.target.closest && e.target.closest(".item.input, .item.parameter")) return;  // a click edits an input
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      svg.setPointerCapture(e.pointerId);
      if (pointers.size === 2) { const [a, b] = [...pointers.values()]; pinch = Math.hypot(a.x - b.x, a.y - b.y); }
    });
    svg.addEventListener("pointermove", (e) => {
      if (!pointers.has(e.pointerId) || !view.box) return;
      const last = pointers.get(e.pointerId);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 2 && pinch) {
        const [a, b] = [...pointers.values()], d = Math.hypot(a.x - b.x, a.y - b.y);
        if (d > 0) zoom(d / pinch);
        pinch = d;
        return;
      }
      const scale = view.box.w / svg.getBoundingClientRect().width;
      pan(-(e.clientX - last.x) * scale, -(e.clientY - last.y) * scale);
    });
    const end = (e) => { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    $("zoom-in").addEventListener("click", () => zoom(1.25));
    $("zoom-out").addEventListener("click", () => zoom(1 / 1.25));
    $("zoom-fit").addEventListener("click", fitView);
  }

  const pathOf = (points) => "M" + points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" L");

  function drawGraph() {
    const svg = $("graph"), g0 = layoutNow();
    svg.textContent = "";
    if (!view.box) fitView();
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    const defs = el("defs");
    for (const [id, cls] of [["arrow", "arrowhead"], ["arrow-red", "arrowhead red"]]) {
      const m = el("marker", { id, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
      m.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
      defs.appendChild(m);
    }
    svg.appendChild(defs);
    const model = state.model, step = state.step, current = currentNode();
    edges.forEach((e, k) => {
      const route = g0.routes[k], box = route.label, value = data.values[e.ref];
      const g = el("g", { class: "edge" + (current && (e.node === current.id || e.from === current.id) ? " current" : ""), "data-edge": String(k) });
      g.appendChild(el("path", { d: pathOf(route.forward), class: "arrow", "marker-end": "url(#arrow)" }));
      const forwardShown = !producer[e.ref] || forwardIndex(producer[e.ref]) <= step;
      const { valueText } = edgeTexts(e);
      if (forwardShown && valueText) {
        const current = (producer[e.ref] ? `${value.name} = ` : "") + shortLabel(model.values[e.ref]);
        const n = CR.labelLines(current).length;   // the value's lines end just above the arrow (LR) or beside it (TB)
        const [vx, vy, anchor] = LR ? [box.x, box.y - CR.ROUTE.lineGap - 6 - (n - 1) * LINE, "middle"]
                                    : [box.x - CR.ROUTE.lineGap - 6, box.y + 5 - (n - 1) * LINE / 2, "end"];
        g.appendChild(textBlock({ x: vx, y: vy, class: "value", "text-anchor": anchor, "data-kind": "value", "data-ref": e.ref },
                                current, `${value.name} = ${fullNumbers(model.values[e.ref].tensor, model.values[e.ref].label)}`));
      }
      const grad = gradientOn(e);
      if (grad) {
        g.appendChild(el("path", { d: pathOf(route.backward), class: "back", "marker-end": "url(#arrow-red)" }));
        const text = shortLabel({ label: grad.label, tensor: grad.tensor }), n = CR.labelLines(text).length;
        const [gx, gy, ganchor] = LR ? [box.x, box.y + CR.ROUTE.lineGap + LINE + 1, "middle"]
                                     : [box.x + CR.ROUTE.lineGap + 6, box.y + 5 - (n - 1) * LINE / 2, "start"];
        g.appendChild(textBlock({ x: gx, y: gy, class: "grad", "text-anchor": ganchor, "data-kind": "grad", "data-ref": e.ref, "data-node": e.node || "output" },
                                text, `∂${outName}/∂${value.name} along this arrow = ${fullNumbers(grad.tensor, grad.label)}`));
      }
      svg.appendChild(g);
    });
    for (const id of Object.keys(items)) {
      const p = g0.boxes[id], node = nodesById[id], kind = items[id].kind;
      const g = el("g", { class: "item " + kind + (current && current.id === id ? " current" : "") + (state.selected === id ? " selected" : "") + (data.marked === id ? " wrong" : ""), "data-item": id });
      const size = itemSize(id), lines = itemLines(id);
      if (size.circle) g.appendChild(el("circle", { cx: p.x, cy: p.y, r: size.w / 2, class: "shape" }));
      else {
        if (kind === "output") g.appendChild(el("rect", { x: p.x - size.w / 2, y: p.y - size.h / 2, width: size.w, height: size.h, rx: 12, class: "shape" }));
        const inset = kind === "output" ? 4 : 0;
        g.appendChild(el("rect", { x: p.x - size.w / 2 + inset, y: p.y - size.h / 2 + inset, width: size.w - 2 * inset, height: size.h - 2 * inset, rx: node ? 10 : 8, class: kind === "output" ? "" : "shape" }));
      }
      const shown = lines.filter((l, i) => i === 0 || !l.cls.includes("total") || leafGradientShown(id));
      shown.forEach((l, i) => {
        const y = p.y + (i - (lines.length - 1) / 2) * LINE + (l.font === OP ? 6 : 4);
        const t = el("text", { x: p.x, y, class: l.cls, "text-anchor": "middle" }, l.text);
        if (l.cls.includes("total")) { t.setAttribute("data-kind", "total"); t.setAttribute("data-ref", id); t.appendChild(el("title", {}, fullNumbers(model.values[id].gradTensor, model.values[id].grad))); }
        g.appendChild(t);
      });
      if (node) {
        g.setAttribute("role", "img");
        g.setAttribute("aria-label", `operation ${node.label.replace("\n", " ")}`);
      } else {
        const v = data.values[id];
        const editable = v.role === "input" || v.role === "parameter";
        g.setAttribute("role", editable ? "button" : "img");
        g.setAttribute("aria-label", editable ? `${v.name}: edit its value` : v.name);
        if (editable) {  // only controls are tab stops
          g.setAttribute("tabindex", "0");
          g.addEventListener("click", () => select(id));
          g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(id); } });
        }
      }
      svg.appendChild(g);
    }
  }

  // An array too big to write out, as a small picture: one cell per entry (rows × the rest), zero white,
  // positive red, negative blue (a diverging scale that readers with red-green colour blindness can tell apart)
  function heatmap(t, name) {
    const rows = t.shape.length > 1 ? t.shape[0] : 1, cols = t.data.length / rows;
    const step = Math.max(1, Math.ceil(Math.max(rows, cols) / 48)), r = Math.ceil(rows / step), c = Math.ceil(cols / step);
    const cell = Math.max(3, Math.min(14, Math.floor(220 / Math.max(r, c))));
    let limit = 0;
    for (const v of t.data) limit = Math.max(limit, Math.abs(v));
    const colour = (v) => {
      const a = limit > 0 ? Math.min(Math.abs(v) / limit, 1) : 0, fade = Math.round(255 * (1 - a));
      return v >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
    };
    const svg = el("svg", { width: c * cell + 2, height: r * cell + 2, class: "heatmap", role: "img",
                            "aria-label": `${name}: ${CR.shapeText(t.shape)} as colours, blue negative, white 0, red positive` });
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
      const v = t.data[(i * step) * cols + j * step];
      svg.appendChild(el("rect", { x: 1 + j * cell, y: 1 + i * cell, width: cell, height: cell, fill: colour(v) }));
    }
    const ordinal = (n) => n + ((n % 100 >= 11 && n % 100 <= 13) ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th");
    const sampled = step > 1 ? `every ${ordinal(step)} ${rows > 1 ? "row and column" : "entry"}` : "";
    svg.appendChild(el("title", {}, `${name} ${CR.shapeText(t.shape)}${sampled ? `, ${sampled}` : ""}: blue −${CR.formatNumber(limit)}, white 0, red +${CR.formatNumber(limit)}`));
    const box = html("div", { class: "heatmap-box" });
    box.appendChild(svg);
    box.appendChild(html("span", { class: "small" }, `${CR.shapeText(t.shape)} as ${rows > 1 ? "rows × columns" : "a row"}${sampled ? ` (${sampled})` : ""}: blue −${CR.formatNumber(limit)} · white 0 · red +${CR.formatNumber(limit)}`));
    return box;
  }

  // on the drawing: an array of up to FULL_LIMIT numbers in full (a matrix a row per line), a larger one as its
  // shape (its numbers on hover, its summary and a heatmap in the panel)
  function shortLabel(m) {
    if (!m.tensor || m.tensor.data.length <= CR.FULL_LIMIT) return m.label;
    return CR.shapeText(m.tensor.shape) + " array";
  }
  // a <text> of one or several lines (tspans), the first line's baseline at y
  function textBlock(attrs, text, titleText) {
    const lines = CR.labelLines(text);
    const t = el("text", attrs, lines.length === 1 ? text : undefined);
    if (lines.length > 1) lines.forEach((line, i) => t.appendChild(el("tspan", { x: attrs.x, dy: i ? LINE : 0 }, line)));
    if (titleText !== undefined) t.appendChild(el("title", {}, titleText));
    return t;
  }
  function fullNumbers(t, label) {
    if (!t) return label;
    if (t.shape.length < 2) return CR.formatValue(t, 1000);
    const [r, c] = [t.shape[0], t.data.length / t.shape[0]], rows = [];
    for (let i = 0; i < Math.min(r, 40); i++) rows.push(Array.from(t.data.slice(i * c, Math.min((i + 1) * c, i * c + 40)), CR.formatNumber).join("  "));
    return `${CR.shapeText(t.shape)}\n` + rows.join("\n") + (r > 40 ? "\n…" : "");
  }

  const forwardIndex = (nodeId) => data.nodes.findIndex((n) => n.id === nodeId) + 1;
  const backwardIndex = (nodeId) => data.backward.findIndex((s) => s.node === nodeId);
  function currentNode() {
    const s = state.step;
    if (s >= 1 && s <= F) return data.nodes[s - 1];
    if (s > F + 1) return nodesById[data.backward[s - F - 2].node];
    return null;
  }
  function gradientAtEnd(e) {
    const saved = state.step;
    state.step = TOTAL;
    try { return gradientOn(e); } finally { state.step = saved; }
  }
  function gradientOn(e) {
    if (!B) return null;
    if (e.node === null) return state.step >= F + 1 ? { label: state.model.values[data.output].grad || "1", tensor: state.model.values[data.output].gradTensor } : null;
    const j = backwardIndex(e.node);
    if (j < 0 || state.step < F + 2 + j) return null;
    const sent = state.model.steps[j].sent.filter((x) => x.input === e.ref);
    const k = data.nodes.find((n) => n.id === e.node).inputs.slice(0, e.index).filter((inp) => inp.ref === e.ref).length;
    const x = sent[Math.min(k, sent.length - 1)];
    return x ? { label: x.label, tensor: x.tensor } : null;
  }
  function leafGradientShown(id) {
    const users = data.backward.map((s, j) => [s, j]).filter(([s]) => s.sent.some((x) => x.input === id));
    return users.length > 0 && users.every(([, j]) => state.step >= F + 2 + j);
  }

  // ---- the panel ------------------------------------------------------------------------------------------------
  function describeStep() {
    const panel = $("step-panel"), s = state.step, model = state.model;
    panel.textContent = "";
    const add = (tag, text, cls) => { const e = html(tag, cls ? { class: cls } : {}, text); panel.appendChild(e); return e; };
    $("step-count").textContent = `step ${s} of ${TOTAL}`;
    if (state.error) add("p", `Cannot recompute: ${state.error}`, "error");
    if (state.notice) add("p", state.notice, "error");
    if (s === 0) {
      add("h2", "The inputs");
      add("p", `Forward propagation (book §5.1) sends values left to right; backward propagation then sends gradients back (§5.2). Press → to step. ${data.recompute ? "Click an input to edit it." : ""}`);
      if (data.marked && data.marked_note) add("p", `The node drawn in red sends a wrong gradient:\n${data.marked_note}`, "wrong-note");
      for (const [id, v] of Object.entries(data.values)) if (v.role === "input" || v.role === "parameter" || v.role === "constant")
        add("p", `${v.name} = ${model.values[id].label}`, "mono");
      return;
    }
    if (s <= F) {
      const node = data.nodes[s - 1], out = data.values[node.output];
      add("h2", `Forward ${s}/${F}: ${node.label.replace("\n", " ")} computes ${out.name}`);
      const args = node.inputs.map((inp) => inp.ref ? `${data.values[inp.ref].name} = ${model.values[inp.ref].label}` : CR.formatNumber(inp.folded));
      add("p", `inputs: ${args.join(", ")}`, "mono");
      add("p", `${out.name} = ${model.values[node.output].label}`, "mono result");
      return;
    }
    if (s === F + 1) {
      add("h2", "Backward starts at the output");
      add("p", `d ${outName} = ∂${outName}/∂${outName} = ${model.values[data.output].grad || "1"}. Each node now receives dout, the gradient of ${outName} with respect to its output, multiplies it by its local derivative and sends the product to each input: the chain rule.`);
      return;
    }
    const j = s - F - 2, st = model.steps[j], node = nodesById[st.node], outN = data.values[node.output].name;
    add("h2", `Backward ${j + 1}/${B}: ${node.label.replace("\n", " ")} → ${outN}`);
    add("p", `upstream dout = d ${outN} = ∂${outName}/∂${outN} = ${st.upstream}`, "mono");
    if (st.node === data.marked && data.marked_note) add("p", `This node (in red) sends a wrong gradient:\n${data.marked_note}`, "wrong-note");
    for (const d of definitions(node)) add("p", `where ${d}`, "mono small");
    for (const x of st.sent) {
      const name = data.values[x.input].name;
      const numeric = x.numeric !== undefined && x.numeric !== x.symbolic ? ` ${x.relation} ${x.numeric} ${x.relation}` : " =";
      const line = x.symbolic !== undefined ? `d ${name} = ${x.symbolic}${numeric} ${x.label}` : `d ${name} = ${x.label}`;
      const p = add("p", line, "mono rule");
      if (x.tensor && x.tensor.data.length > 1) p.title = fullNumbers(x.tensor, x.label);
      if (x.tensor && x.tensor.data.length > CR.FULL_LIMIT) panel.appendChild(heatmap(x.tensor, `d ${name}`));
      if (x.note) add("p", `(${x.note})`, "small");
      if (x.local !== undefined && x.local_value !== undefined && !/^\(?−?[\d.]+\)?$/.test(x.local))
        add("p", `local derivative ∂${outN}/∂${name} = ${x.local} = ${x.local_value}`, "small");
      const branch = model.branches[x.input];
      const lastHere = st.sent.filter((y) => y.input === x.input).pop() === x;
      if (branch && lastHere && lastTerm(x.input, j)) {
        const terms = branch.terms.map((t) => `${t.label} (via ${t.via})`).join(" + ");
        add("p", `branch rule: ${name} is used ${branch.terms.length} times, so ∂${outName}/∂${name} = ${terms} ${branch.relation || "="} ${branch.total}`, "mono branch");
      }
    }
    const check = html("button", { type: "button", id: "check" }, "Check numerically");
    check.addEventListener("click", () => numericalCheck(node));
    panel.appendChild(check);
    if (state.checks[node.id]) for (const line of state.checks[node.id]) add("p", line.text, "mono check" + (line.ok === true ? " ok" : line.ok === false ? " bad" : ""));
  }
  function lastTerm(id, j) {
    const users = data.backward.map((s, k) => [s, k]).filter(([s]) => s.sent.some((x) => x.input === id)).map(([, k]) => k);
    return users[users.length - 1] === j;
  }
  // what the rule's other symbols mean: the layer's own templates (Layer.rule_meanings), filled like explain.py
  function definitions(node) {
    const refs = node.inputs.map((inp) => (inp.ref ? data.values[inp.ref] : null));
    const x = refs[0] ? refs[0].name : "x", shape = refs[0] ? refs[0].shape : [];
    const labels = node.inputs.slice(1).find((inp) => inp.ref);
    const xs = refs[0] ? state.model.values[node.inputs[0].ref].tensor : null;
    const fill = { x, t: labels ? state.model.values[labels.ref].label : "", N: shape.length > 1 ? shape[0] : 1,
                   n: node.fields.n ?? "?", passed: xs ? ` (${xs.data.filter((v) => v > 0).length} of ${xs.data.length} entries pass)` : "" };
    const filled = (text) => text.replace(/\{(\w+)\}/g, (all, k) => String(fill[k]));
    return (node.definitions || []).map(([symbol, meaning]) => `${filled(symbol)} = ${filled(meaning)}`);
  }

  // ---- the numerical check of one node: perturb each of its inputs by ±h, run the rest of the graph -------------
  function numericalCheck(node) {
    const lines = [];
    if (!data.recompute) lines.push({ text: `cannot check: ${data.recompute_reason}`, ok: null });
    else {
      try {
        for (const r of CR.numericalCheck(data, state.edits, node.id)) {
          const name = data.values[r.input].name;
          if (r.size === 1 && r.pairs.length) lines.push({ text: `numerical ∂${outName}/∂${name} via this node = ${CR.formatNumber(r.pairs[0][2])}; backprop ${CR.formatNumber(r.pairs[0][1])}`, ok: null });
          lines.push({ text: CR.checkLine(name, r), ok: r.compared ? r.ok : null });
        }
      } catch (e) { lines.push({ text: `cannot check: ${e.message || e}`, ok: false }); }
    }
    state.checks[node.id] = lines;
    render();
  }

  // ---- editing an input -------------------------------------------------------------------------------------
  function select(id) {
    state.selected = id;
    const v = data.values[id], box = $("editor");
    box.textContent = "";
    if (!data.recompute) {
      box.appendChild(html("p", { class: "small" }, `The page cannot recompute this graph: ${data.recompute_reason}. Its values are Python's.`));
      render();
      return;
    }
    box.appendChild(html("h2", {}, `Edit ${v.name}`));
    const t = state.model.values[id].tensor;
    const cols = t.shape.length >= 2 ? t.data.length / t.shape[0] : t.data.length;
    const grid = html("div", { class: "grid" });
    grid.style.gridTemplateColumns = `repeat(${Math.min(cols, 8)}, auto)`;
    const inputs = [];
    for (let k = 0; k < Math.min(t.data.length, 64); k++) {
      const input = html("input", { type: "number", step: "any", value: String(t.data[k]), "aria-label": `${v.name} entry ${k}`, "data-entry": String(k) });
      input.addEventListener("change", () => {
        const next = CR.copy(state.model.values[id].tensor);
        const value = parseFloat(input.value);
        if (!Number.isFinite(value)) { input.setCustomValidity("a finite number"); input.reportValidity(); return; }
        next.data[k] = value;
        const before = state.edits[id];
        state.edits[id] = next;
        state.checks = {};
        recompute();
        if (state.error) {   // a step would give inf or NaN: the edit is refused, the graph keeps its numbers
          state.notice = `${v.name} entry ${k} = ${CR.formatNumber(value)} refused: ${state.error}`;
          if (before) state.edits[id] = before; else delete state.edits[id];
          recompute();
          input.setCustomValidity(state.notice);
          input.reportValidity();
          render();
          return;
        }
        input.setCustomValidity("");
        state.notice = "";
        writeHash();
        render();
      });
      inputs.push(input);
      grid.appendChild(input);
    }
    box.appendChild(grid);
    if (t.data.length > 64) box.appendChild(html("p", { class: "small" }, `the first 64 of ${t.data.length} numbers`));
    const reset = html("button", { type: "button" }, "Back to the recorded values");
    reset.addEventListener("click", () => { state.edits = {}; state.checks = {}; state.notice = ""; recompute(); writeHash(); select(id); });
    box.appendChild(reset);
    render();
    if (inputs[0]) inputs[0].focus();
  }

  // ---- state in the URL ---------------------------------------------------------------------------------------
  function writeHash() {
    const parts = [`view=${state.view}`, `step=${state.step}`];
    if (state.view === "images") parts.push(`sample=${state.sample || 0}`, `pass=${state.phase || "forward"}`);
    const edits = Object.entries(state.edits).map(([id, t]) => `${id}:${Array.from(t.data).join(",")}`);
    if (edits.length) parts.push("edit=" + edits.join(";"));
    const hash = "#" + parts.join("&");
    try { history.replaceState(null, "", hash); } catch (e) { location.hash = hash; }
  }
  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("view") === "train" && training) state.view = "train";
    if (params.get("view") === "images" && hasImages()) state.view = "images";
    const sample = parseInt(params.get("sample"), 10);
    if (Number.isFinite(sample) && sample >= 0) state.sample = sample;
    if (params.get("pass") === "backward") state.phase = "backward";
    const step = parseInt(params.get("step"), 10);
    if (Number.isFinite(step)) state.step = Math.max(0, Math.min(TOTAL, step));
    for (const part of (params.get("edit") || "").split(";").filter(Boolean)) {
      const [id, numbers] = part.split(":");
      const v = data.values[id];
      const values = (numbers || "").split(",").map(Number);
      if (v && values.length === (v.value || []).length && values.every(Number.isFinite)) state.edits[id] = CR.tensor(v.shape, values);
    }
  }

  // ---- the drawing as an SVG file -----------------------------------------------------------------------------
  function exportSvg() {
    const svg = $("graph").cloneNode(true);
    svg.setAttribute("xmlns", NS);
    const g = layoutNow();
    svg.setAttribute("width", g.width);
    svg.setAttribute("height", g.height);
    svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);  // the whole drawing, whatever the zoom
    const style = document.createElementNS(NS, "style");
    style.textContent = SVG_STYLE;
    svg.insertBefore(style, svg.firstChild);
    const blob = new Blob([new XMLSerializer().serializeToString(svg)], { type: "image/svg+xml" });
    const a = html("a", { href: URL.createObjectURL(blob), download: `${(data.title || outName).replace(/[^\w.-]+/g, "_")}-step${state.step}.svg` });
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  const SVG_STYLE = "text{font-family:Helvetica,Arial,sans-serif;font-size:13px}.value{fill:#222}.grad{fill:#d00;font-weight:bold}" +
    ".arrow{fill:none;stroke:#333;stroke-width:1.4}.back{fill:none;stroke:#d00;stroke-width:2.2}.arrowhead{fill:#333}.arrowhead.red{fill:#d00}" +
    ".item circle,.item rect{fill:#fff;stroke:#333;stroke-width:1.4}.item.input rect{fill:#eef5ff}.item.parameter rect{fill:#fff6dc}.item.constant rect{fill:#f3f3f3;stroke-dasharray:4 3}" +
    ".op{font-size:18px}.op.small{font-size:12px}.name{font-weight:bold}.current circle,.current rect{stroke:#0a58ca;stroke-width:3}";

  // ---- the training view: the book's two-layer net on a spiral --------------------------------------------------
  const T = { params: null, iter: 0, losses: [], timer: null, last: null };
  function trainReset() {
    T.params = Object.fromEntries(["W1", "b1", "W2", "b2"].map((k) => [k, CR.tensor(training.init[k].shape, training.init[k].value)]));
    T.iter = 0; T.losses = []; T.last = null;
    T.x = CR.tensor([training.t.length, 2], training.x);
    T.t = CR.tensor([training.t.length], training.t);
    T.losses.push(trainLoss());
  }
  function trainForward(x) {
    const a1 = CR.OPS.Affine.forward([x, T.params.W1, T.params.b1]);
    const r = CR.OPS.Relu.forward([a1.out]);
    const a2 = CR.OPS.Affine.forward([r.out, T.params.W2, T.params.b2]);
    return { a1, r, a2 };
  }
  function trainLoss() { return CR.OPS.SoftmaxWithLoss.forward([trainForward(T.x).a2.out, T.t]).out.data[0]; }
  // the learning rate as typed, or null (and the field marked, with its reason beside it) when it is not one
  // (the Train view's and the Images view's fields: `field`, its error line, the buttons it enables)
  function rateIn(field, error, buttons) {
    const text = $(field).value.trim(), lr = Number(text);
    const ok = text !== "" && Number.isFinite(lr) && lr > 0;
    $(field).setAttribute("aria-invalid", String(!ok));
    $(error).textContent = ok ? "" : `learning rate ${JSON.stringify(text)} refused: it must be a positive number`;
    for (const id of buttons) $(id).disabled = !ok;
    return ok ? lr : null;
  }
  function learningRate() { return rateIn("lr", "lr-error", ["step-btn", "play"]); }
  function trainStep() {
    const lr = learningRate();
    if (lr === null) return false;
    const f = trainForward(T.x), loss = CR.OPS.SoftmaxWithLoss.forward([f.a2.out, T.t]);
    const d2 = CR.OPS.SoftmaxWithLoss.backward(loss, CR.scalar(1))[0];
    const [dh, dW2, db2] = CR.OPS.Affine.backward(f.a2, d2);
    const [dz] = CR.OPS.Relu.backward(f.r, dh);
    const [, dW1, db1] = CR.OPS.Affine.backward(f.a1, dz);
    const grads = { W1: dW1, b1: db1, W2: dW2, b2: db2 };
    const before = { W1: T.params.W1.data[0], W2: T.params.W2.data[0], b2: T.params.b2.data[0] };
    const kept = T.params;
    T.params = Object.fromEntries(Object.keys(grads).map((k) => [k, CR.tensor(kept[k].shape, kept[k].data.map((w, i) => w - lr * grads[k].data[i]))]));
    const after = trainLoss(), first = T.losses[0];
    // chainrule train's check: a loss that is not finite, or that explodes past the start
    const why = !Object.values(T.params).every((p) => p.data.every(Number.isFinite)) ? "the update made some weights inf or NaN"
      : CR.trainingStop(after, after, first, training.explosion_factor);   // the loss on all the data: no smoothing
    if (why) {
      T.params = kept;    // as chainrule train stops: named, the weights those before the step
      $("lr-error").textContent = `stopped at iteration ${T.iter + 1}: ${why}; try a smaller learning rate (now ${CR.formatNumber(lr)}); the weights are those before this step`;
      return false;
    }
    T.iter += 1;
    T.last = { lr, before, grads: { W1: dW1.data[0], W2: dW2.data[0], b2: db2.data[0] } };
    T.losses.push(after);
    return true;
  }
  function drawTraining() {
    const canvas = $("regions"), ctx = canvas.getContext("2d"), N = 80, size = canvas.width;
    const [lo, hi] = [-1.1, 1.1], grid = [];
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) grid.push(lo + (j + 0.5) * (hi - lo) / N, hi - (i + 0.5) * (hi - lo) / N);
    const scores = trainForward(CR.tensor([N * N, 2], grid)).a2.out;
    const colors = [[255, 214, 214], [214, 232, 255], [214, 245, 214]], dark = ["#c0392b", "#1f5fbf", "#1e8c3a"];
    const img = ctx.createImageData(N, N);
    for (let k = 0; k < N * N; k++) {
      let best = 0;
      for (let c = 1; c < 3; c++) if (scores.data[k * 3 + c] > scores.data[k * 3 + best]) best = c;
      img.data.set([...colors[best], 255], k * 4);
    }
    const off = document.createElement("canvas");
    off.width = N; off.height = N;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, size, size);
    for (let k = 0; k < training.t.length; k++) {
      const px = (training.x[2 * k] - lo) / (hi - lo) * size, py = (hi - training.x[2 * k + 1]) / (hi - lo) * size;
      ctx.fillStyle = dark[training.t[k]];
      ctx.beginPath(); ctx.arc(px, py, 2.6, 0, 2 * Math.PI); ctx.fill();
    }
    const curve = $("loss-curve");
    curve.textContent = "";
    const W = 420, H = 170, L = T.losses, max = Math.max(...L, 1e-9), n = Math.max(L.length - 1, 1);
    curve.setAttribute("viewBox", `0 0 ${W} ${H}`);
    curve.appendChild(el("line", { x1: 40, y1: H - 24, x2: W - 8, y2: H - 24, class: "axis" }));
    curve.appendChild(el("line", { x1: 40, y1: 8, x2: 40, y2: H - 24, class: "axis" }));
    curve.appendChild(el("text", { x: 36, y: 14, class: "tick end" }, CR.formatNumber(max)));
    curve.appendChild(el("text", { x: 36, y: H - 24, class: "tick end" }, "0"));
    curve.appendChild(el("text", { x: W - 8, y: H - 8, class: "tick end" }, `iteration ${T.iter}`));
    curve.appendChild(el("text", { x: 44, y: H - 8, class: "tick" }, "loss (mean cross-entropy over the data)"));
    const pts = L.map((v, i) => `${40 + i / n * (W - 48)},${H - 24 - v / max * (H - 34)}`).join(" ");
    curve.appendChild(el("polyline", { points: pts, class: "loss-line" }));
    const info = $("train-info");
    info.textContent = "";
    info.appendChild(html("p", { class: "mono", id: "train-loss" }, `iteration ${T.iter}: loss ${CR.formatNumber(L[L.length - 1])}`));
    if (T.last) {
      const u = T.last, line = (name, w, g) => `${name} ← ${name} − lr·d${name} = ${CR.formatNumber(w)} − ${CR.formatNumber(u.lr)} × ${CR.formatNumber(g)} = ${CR.formatNumber(w - u.lr * g)}`;
      info.appendChild(html("p", { class: "small" }, "The update (book §4.4, one gradient-descent step on all the data; here three of the weights):"));
      info.appendChild(html("p", { class: "mono" }, line("W1[0,0]", u.before.W1, u.grads.W1)));
      info.appendChild(html("p", { class: "mono" }, line("W2[0,0]", u.before.W2, u.grads.W2)));
      info.appendChild(html("p", { class: "mono" }, line("b2[0]", u.before.b2, u.grads.b2)));
    }
  }
  function play() {
    if (T.timer) { clearInterval(T.timer); T.timer = null; $("play").textContent = "Play"; return; }
    $("play").textContent = "Pause";
    T.timer = setInterval(() => {
      let going = true;
      for (let i = 0; i < 5 && going; i++) going = trainStep();
      drawTraining();
      if (!going || T.iter >= 5000) play();
    }, 60);
  }

  // ---- a typed expression: the grammar of `chainrule graph "EXPR"`, built and drawn here --------------------------
  const typed = { values: {} };  // name → the text of its value, kept while the expression changes
  function expressionNames(text) {
    const names = new Set();
    const visit = (n) => {
      if (!n || typeof n !== "object") return;
      if (n.type === "Name" && !CR.FUNCTIONS.includes(n.id)) names.add(n.id);
      for (const c of [n.left, n.right, n.operand, n.value, n.func, ...(n.args || []), ...(n.keywords || []).map((k) => k.value)]) visit(c);
    };
    visit(CR.parseExpression(text));
    return [...names].sort();
  }
  function parseValueText(name, text) {
    let value;
    try { value = JSON.parse(text.trim()); } catch (e) { throw new CR.ExpressionError(`${name}: ${JSON.stringify(text)} is not a number or a list of numbers such as [[1, 2], [3, 4]]`); }
    const shape = [];
    for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
    const flat = [value].flat(Infinity);
    const rectangular = (v, depth) => (depth === shape.length ? typeof v === "number" : Array.isArray(v) && v.length === shape[depth] && v.every((w) => rectangular(w, depth + 1)));
    if (!rectangular(value, 0)) throw new CR.ExpressionError(`${name}: ${JSON.stringify(text)} is not a number or a rectangular list of numbers`);
    if (!flat.length) throw new CR.ExpressionError(`${name}: ${JSON.stringify(text)} holds no number; expected at least one, such as 1 or [1, 2]`);
    if (!flat.every(Number.isFinite)) throw new CR.ExpressionError(`${name}: ${JSON.stringify(text)} holds a number beyond floating point (the largest is about ${CR.formatNumber(Number.MAX_VALUE, 3)}), inf or NaN; expected finite numbers`);
    return CR.tensor(shape, flat);
  }
  function showValueFields(names) {
    const box = $("expression-values");
    box.textContent = "";
    for (const name of names) {
      if (!(name in typed.values)) typed.values[name] = "1";  // a name without a value gets an editable default
      const label = html("label", {}, `${name} = `);
      const input = html("input", { type: "text", value: typed.values[name], "data-name": name, "aria-label": `value of ${name}`, autocomplete: "off", spellcheck: "false" });
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); buildTyped(); } });
      input.addEventListener("change", () => { typed.values[name] = input.value; });
      label.appendChild(input);
      box.appendChild(label);
    }
  }
  function buildTyped() {
    const field = $("expression"), error = $("expression-error");
    for (const input of document.querySelectorAll("#expression-values input")) typed.values[input.dataset.name] = input.value;
    try {
      const text = field.value;
      const names = expressionNames(text);
      showValueFields(names);
      const values = Object.fromEntries(names.map((n) => [n, parseValueText(n, typed.values[n])]));
      const out = CR.expressionOutput(text, values, catalogue);
      const next = CR.describeGraph(out, `Backpropagation through ${text.trim()}`, "auto", 12);
      const nonFinite = CR.nonFiniteReport(next, CR.compute(next, {}));  // as `chainrule graph` refuses it
      if (nonFinite) throw new CR.ExpressionError(`${nonFinite}; choose values where every step is finite`);
      error.textContent = "";
      field.setAttribute("aria-invalid", "false");
      data = next;
      derive();
      view.fitted = true;
      Object.assign(state, { step: 0, edits: {}, selected: null, checks: {}, error: "" });
      $("editor").textContent = "";
      $("title").textContent = data.title;
      $("scrubber").max = String(TOTAL);
      recompute();
      writeHash();
      render();
    } catch (e) {
      if (!(e instanceof CR.ExpressionError)) throw e;
      error.textContent = e.message;  // one line under the field; the graph shown stays
      field.setAttribute("aria-invalid", "true");
    }
  }

  // ---- putting it together ------------------------------------------------------------------------------------
  // ---- the Images view: a CNN's pictures, forward and backward (images.js) -----------------------------------
  const hasImages = () => Boolean($("tab-images"));
  function batchSize() {
    const first = Object.values(data.values).find((v) => v.role === "input" && v.shape.length >= 2);
    return first ? first.shape[0] : 1;
  }
  function drawImagesView() {
    const select = $("sample"), n = batchSize();
    if (select.options.length !== n) {
      select.replaceChildren(...Array.from({ length: n }, (_, k) => html("option", { value: String(k) }, `${k + 1} of ${n}`)));
    }
    state.sample = Math.min(state.sample || 0, n - 1);
    select.value = String(state.sample);
    $("phase-forward").checked = state.phase !== "backward";
    $("phase-backward").checked = state.phase === "backward";
    const cards = CR.imageCards(data, state.model, state.sample, state.phase || "forward", data.classes);
    const p = state.picked, detail = p && nodesById[p.node] ? CR.windowDetail(data, state.model, p.node, state.sample, p.channel, p.y, p.z) : null;
    if (cnnTraining) { $("learn").hidden = false; drawLearn(); }
    CR.drawImages($("image-cards"), cards, 72, (card, tile, y, z) => {
      state.picked = { node: card.node, channel: tile.channel, y, z };
      drawImagesView();
    }, detail);
  }

  // ---- learning live (Images view): a small copy of a CNN trained in the page --------------------------------
  const cnnTraining = JSON.parse(document.getElementById("chainrule-cnn-training").textContent);  // null: none
  const L = { net: null, steps: 0, losses: [], grads: null, batches: null, ms: [], accuracy: null, accuracyAt: 0, timer: null };
  function learnReset() {
    L.net = CR.cnnNet(cnnTraining); L.steps = 0; L.losses = []; L.grads = null; L.ms = [];
    L.batches = CR.cnnBatches(cnnTraining.seed);
    L.accuracy = CR.cnnAccuracy(L.net, cnnTraining); L.accuracyAt = 0;
  }
  function learnRate() { return rateIn("learn-lr", "learn-lr-error", ["learn-step", "learn-play"]); }
  function learnStep() {
    const lr = learnRate();
    if (lr === null) return false;
    const idx = L.batches(cnnTraining.t.length, cnnTraining.batch), start = performance.now();
    const r = CR.cnnStep(L.net, cnnTraining, idx, lr);
    if (r.diverged) {   // as chainrule train stops: named, the weights those before the update that overflowed
      if (r.undone) { L.steps -= 1; L.losses.pop(); L.ms.pop(); }
      $("learn-lr-error").textContent = `stopped at step ${L.steps + 1}: ${r.diverged}; try a smaller learning rate (now ${CR.formatNumber(lr)}); the weights are those of step ${L.steps}`;
      return false;
    }
    L.ms.push(performance.now() - start);
    L.losses.push(r.loss); L.grads = r.grads; L.steps++;
    if (L.steps % 25 === 0) { L.accuracy = CR.cnnAccuracy(L.net, cnnTraining); L.accuracyAt = L.steps; }
    return true;
  }
  function drawLearn() {
    const c = cnnTraining, n = c.t.length;
    $("learn-what").textContent = (c.same ? `The network shown (${c.spec}), ` : `A small copy of the network shown: ${c.spec} instead of ${c.shown}`
      + (c.left_out.length ? ` (${c.left_out.join(", ")} left out: the page's trainer does not run them)` : "") + ", ")
      + `from a fresh He initialisation, trained here in the page on ${n} training images with plain SGD: each step is one forward pass, `
      + `one backward pass and W ← W − lr·dW, on a batch of ${c.batch}. Reset starts again from the same weights.`;
    const recent = L.ms.slice(-10).sort((a, b) => a - b), ms = recent.length ? recent[Math.floor(recent.length / 2)] : null;
    $("learn-info").textContent = `step ${L.steps}` + (L.losses.length ? ` · batch loss ${CR.formatNumber(L.losses[L.losses.length - 1])}` : "")
      + ` · accuracy on the ${n} images ${(100 * L.accuracy).toFixed(1)}% (at step ${L.accuracyAt})`
      + (ms === null ? "" : ` · a step takes ${ms.toFixed(0)} ms here (batch ${c.batch})`);
    $("learn-info").dataset.steps = String(L.steps);
    $("learn-info").dataset.ms = ms === null ? "" : String(ms);
    $("learn-info").dataset.lastMs = L.ms.length ? String(L.ms[L.ms.length - 1]) : "";
    const svg = $("learn-curve"), W = 420, H = 120;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    if (L.losses.length > 1) {
      const top = Math.max(...L.losses), k = (W - 10) / Math.max(1, L.losses.length - 1);
      const pts = L.losses.map((v, i) => `${(5 + i * k).toFixed(1)},${(H - 5 - (H - 10) * v / top).toFixed(1)}`).join(" ");
      svg.append(el("polyline", { points: pts, fill: "none", stroke: "#5e3c99", "stroke-width": 1.5 }));
      svg.append(el("text", { x: 8, y: 14, "font-size": 11 }, `batch loss (max ${CR.formatNumber(top)})`));
    }
    CR.drawImages($("learn-cards"), CR.learnCards(L.net, L.grads), 60);
  }
  function learnPlay() {
    if (L.timer) { clearTimeout(L.timer); L.timer = null; $("learn-play").textContent = "Play"; return; }
    $("learn-play").textContent = "Pause";
    const tick = () => { if (!learnStep()) { learnPlay(); return; } drawLearn(); L.timer = setTimeout(tick, 0); };
    tick();
  }

  function render() {
    $("graph-view").hidden = state.view !== "graph";
    $("tab-graph").setAttribute("aria-selected", String(state.view === "graph"));
    if (training) {
      $("train-view").hidden = state.view !== "train";
      $("tab-train").setAttribute("aria-selected", String(state.view === "train"));
    }
    if (hasImages()) {
      $("images-view").hidden = state.view !== "images";
      $("tab-images").setAttribute("aria-selected", String(state.view === "images"));
    }
    if (state.view === "graph") {
      $("scrubber").value = String(state.step);
      drawGraph();
      describeStep();
    } else if (state.view === "images") drawImagesView();
    else drawTraining();
  }
  function go(step) { state.step = Math.max(0, Math.min(TOTAL, step)); writeHash(); render(); }
  function setView(view) { state.view = view; writeHash(); render(); }

  function init() {
    $("title").textContent = data.title || `Backpropagation through ${outName}`;
    $("scrubber").max = String(TOTAL);
    $("first").addEventListener("click", () => go(0));
    $("prev").addEventListener("click", () => go(state.step - 1));
    $("next").addEventListener("click", () => go(state.step + 1));
    $("last").addEventListener("click", () => go(TOTAL));
    $("scrubber").addEventListener("input", (e) => go(parseInt(e.target.value, 10)));
    $("export").addEventListener("click", exportSvg);
    $("expression-form").addEventListener("submit", (e) => { e.preventDefault(); buildTyped(); });
    setUpZoom();
    window.addEventListener("resize", () => { if (state.view === "graph") render(); });
    $("tab-graph").addEventListener("click", () => setView("graph"));
    if (hasImages()) {
      $("tab-images").addEventListener("click", () => setView("images"));
      $("sample").addEventListener("change", (e) => { state.sample = parseInt(e.target.value, 10) || 0; writeHash(); render(); });
      for (const id of ["phase-forward", "phase-backward"])
        $(id).addEventListener("change", (e) => { state.phase = e.target.value; writeHash(); render(); });
      if (cnnTraining) {
        $("learn-lr").value = String(cnnTraining.lr);
        learnReset();
        $("learn-step").addEventListener("click", () => { learnStep(); drawLearn(); });
        $("learn-play").addEventListener("click", learnPlay);
        $("learn-reset").addEventListener("click", () => { if (L.timer) learnPlay(); learnReset(); learnRate(); drawLearn(); });
        $("learn-lr").addEventListener("input", learnRate);
      }
    }
    if (training) {
      $("tab-train").addEventListener("click", () => setView("train"));
      $("step-btn").addEventListener("click", () => { trainStep(); drawTraining(); });
      $("play").addEventListener("click", play);
      $("reset").addEventListener("click", () => { if (T.timer) play(); trainReset(); learningRate(); drawTraining(); });
      $("lr").addEventListener("input", learningRate);
    }
    document.addEventListener("keydown", (e) => {
      if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA")) return;
      if (state.view !== "graph") return;
      if (e.key === "ArrowRight") { e.preventDefault(); go(state.step + 1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); go(state.step - 1); }
      else if (e.key === "Home") { e.preventDefault(); go(0); }
      else if (e.key === "End") { e.preventDefault(); go(TOTAL); }
      else if (e.key === "+" || e.key === "=") { e.preventDefault(); zoom(1.25); }
      else if (e.key === "-") { e.preventDefault(); zoom(1 / 1.25); }
      else if (e.key === "0") { e.preventDefault(); fitView(); }
    });
    readHash();
    if (!training && state.view === "train") state.view = "graph";
    recompute();
    if (state.error && Object.keys(state.edits).length) {   // a link's edits that make a step inf or NaN
      state.notice = `The link's edited values were not used: ${state.error}`;
      state.edits = {};
      recompute();
      writeHash();
    }
    if (training) trainReset();
    render();
    document.body.setAttribute("data-ready", "true");
  }
  init();
})();
