// Where each item of a drawing goes: chainrule/draw/layout.py, step for step (a graph typed into the page gets
// the very positions Python would give it; tests/test_expression_page.py compares them).
"use strict";

(function (CR) {
  CR.SPACING = { LR: [180, 104], TB: [150, 120] };
  CR.MARGIN = 90;

  CR.ranksOf = function (items, edges) {
    const sources = new Set(items), incoming = {}, outgoing = {};
    for (const i of items) { incoming[i] = []; outgoing[i] = []; }
    for (const [a, b] of edges) { incoming[b].push(a); outgoing[a].push(b); sources.delete(b); }
    const rank = {};
    for (const item of items) {
      const inner = incoming[item].filter((a) => !sources.has(a)).map((a) => rank[a]);
      rank[item] = inner.length ? 1 + Math.max(...inner) : (sources.has(item) ? 0 : 1);
    }
    for (const item of items)
      if (sources.has(item) && outgoing[item].length) rank[item] = Math.max(Math.min(...outgoing[item].map((b) => rank[b])) - 1, 0);
    return rank;
  };

  // positions closest to `desired` that keep their order at least `gap` apart (pool adjacent violators)
  CR.spreadApart = function (desired, gap) {
    const blocks = [];
    desired.forEach((d, i) => {
      blocks.push([d - i * gap, 1]);
      while (blocks.length > 1 && blocks[blocks.length - 2][0] > blocks[blocks.length - 1][0]) {
        const [m2, c2] = blocks.pop(), [m1, c1] = blocks.pop();
        blocks.push([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2]);
      }
    });
    const q = [];
    for (const [m, c] of blocks) for (let k = 0; k < c; k++) q.push(m);
    return q.map((qi, i) => qi + i * gap);
  };

  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

  CR.layoutItems = function (items, edges, direction, sweeps) {
    sweeps = sweeps === undefined ? 4 : sweeps;
    const rank = CR.ranksOf(items, edges), firstSeen = {};
    items.forEach((item, i) => { firstSeen[item] = i; });
    const columns = new Map();
    for (const item of items) { if (!columns.has(rank[item])) columns.set(rank[item], []); columns.get(rank[item]).push(item); }
    const neighbours = {}, inputsOf = {};
    for (const i of items) { neighbours[i] = []; inputsOf[i] = []; }
    for (const [a, b] of edges) {
      neighbours[a].push(b); neighbours[b].push(a);
      if (!inputsOf[b].includes(a)) inputsOf[b].push(a);
    }
    const position = {};
    for (const col of columns.values()) col.forEach((item, row) => { position[item] = row; });
    const order = [...columns.keys()].sort((p, q) => p - q);
    for (let sweep = 0; sweep < sweeps; sweep++) {
      for (const r of (sweep % 2 === 0 ? order : order.slice().reverse())) {
        const col = columns.get(r);
        const bary = {};
        for (const item of col) {
          const others = neighbours[item].filter((n) => rank[n] !== r).map((n) => position[n]);
          bary[item] = others.length ? others.reduce((a, b) => a + b, 0) / others.length : position[item];
        }
        col.sort((p, q) => bary[p] - bary[q] || firstSeen[p] - firstSeen[q]);
        col.forEach((item, row) => { position[item] = row; });
      }
    }
    const y = {};
    for (const col of columns.values()) col.forEach((item, row) => { y[item] = row; });
    const sourceTarget = (item) => {
      const users = neighbours[item].filter((b) => inputsOf[b].includes(item));
      if (inputsOf[item].length || !users.length) return null;
      const siblings = inputsOf[users[0]].filter((a) => !inputsOf[a].length && rank[a] === rank[item]);
      return y[users[0]] + (siblings.indexOf(item) - (siblings.length - 1) / 2);
    };
    const settle = (r, wanted) => {
      const col = columns.get(r);
      const placed = CR.spreadApart(col.map(wanted), 1.0);
      col.forEach((item, k) => { y[item] = placed[k]; });
    };
    for (let sweep = 0; sweep < 4; sweep++) {
      for (const r of order) settle(r, (item) => (inputsOf[item].length ? mean(inputsOf[item].map((a) => y[a])) : y[item]));
      if (sweep < 3) for (const r of order.slice().reverse()) settle(r, (item) => { const t = sourceTarget(item); return t !== null ? t : y[item]; });
    }
    const ys = Object.values(y), low = ys.length ? Math.min(...ys) : 0;
    const [step, gap] = CR.SPACING[direction];
    const placed = {};
    for (const [r, col] of columns) col.forEach((item, row) => {
      const along = CR.MARGIN + r * step, across = CR.MARGIN + (y[item] - low) * gap;
      placed[item] = direction === "LR" ? { x: along, y: across, rank: r, row } : { x: across, y: along, rank: r, row };
    });
    const length = CR.MARGIN * 2 + (order.length ? Math.max(...order) : 0) * step;
    const breadth = CR.MARGIN * 2 + (ys.length ? Math.max(...ys) - low : 0) * gap;
    return { placed, size: direction === "LR" ? [length, breadth] : [breadth, length] };
  };

  CR.chooseDirection = function (items, edges, direction, longestLr) {
    if (direction === "LR" || direction === "TB") return direction;
    const rank = CR.ranksOf(items, edges), ranks = Object.values(rank);
    return ranks.length && Math.max(...ranks) > longestLr ? "TB" : "LR";
  };

  // graphdata._layout: the items in forward order, the edges from each value's source to its users
  CR.graphLayout = function (data, direction, longestLr) {
    const items = [], edges = [], producer = {};
    for (const n of data.nodes) producer[n.output] = n.id;
    for (const node of data.nodes) {
      for (const inp of node.inputs) {
        if (inp.ref === null) continue;
        const source = producer[inp.ref] || inp.ref;
        if (!items.includes(source)) items.push(source);
        edges.push([source, node.id]);
      }
      items.push(node.id);
    }
    const out = data.output, last = data.nodes.find((n) => n.output === out);
    items.push(out);
    if (last) edges.push([last.id, out]);
    const chosen = CR.chooseDirection(items, edges, direction, longestLr);
    const { placed, size } = CR.layoutItems(items, edges, chosen);
    const ops = new Set(data.nodes.map((n) => n.id));
    const laid = {};
    for (const item of items) {
      const p = placed[item];
      laid[item] = { x: p.x, y: p.y, rank: p.rank, row: p.row, kind: ops.has(item) ? "op" : item === out ? "output" : data.values[item].role };
    }
    return { direction: chosen, width: size[0], height: size[1], items: laid, edges: edges.map(([a, b]) => ({ from: a, to: b })) };
  };

  // ---- the page's drawing: a layered layout where every use of a value is its own routed arrow ---------------
  // Each arrow gets a label box of its own (value above, gradient below, as Graphviz makes a node of an edge
  // label) in a layer between its ends, and a dummy box in every further layer it crosses. Boxes of one layer are
  // stacked with gaps; arrows run straight between layers and level through a layer at their own box's height,
  // so no arrow can pass through a box that is not its end, and no label can overlap another label or a box.
  CR.ROUTE = { gap: 14, layerGap: 34, margin: 24, lineGap: 3 };

  // `edges`: [{from, to}] in drawing order; `sizes(item)`: {w, h} of an item; `labelSize(k)`: of edge k's label;
  // `hint` (optional, from Graphviz: dot.page_order): each item's and each label's position across the flow,
  // which then orders every layer instead of the barycenter sweeps
  CR.routedLayout = function (items, edges, direction, sizes, labelSize, hint) {
    const pairs = edges.map((e) => [e.from, e.to]);
    const rank = CR.ranksOf(items, pairs);
    const LR = direction !== "TB";
    const boxes = {}, layers = [], order = {};
    const across = (b) => (LR ? b.h : b.w), along = (b) => (LR ? b.w : b.h);
    const put = (id, layer, box) => {
      boxes[id] = { ...box, layer };
      (layers[layer] = layers[layer] || []).push(id);
      order[id] = Object.keys(order).length;
    };
    for (const item of items) put(item, 2 * rank[item], sizes(item));
    const chains = edges.map((e, k) => {
      const r0 = rank[e.from], r1 = rank[e.to], chain = [e.from];
      put(`label:${k}`, 2 * r0 + 1, labelSize(k));
      chain.push(`label:${k}`);
      for (let layer = 2 * r0 + 2; layer < 2 * r1; layer++) {
        put(`pass:${k}:${layer}`, layer, LR ? { w: 0, h: 4 * CR.ROUTE.lineGap } : { w: 4 * CR.ROUTE.lineGap, h: 0 });
        chain.push(`pass:${k}:${layer}`);
      }
      chain.push(e.to);
      return chain;
    });
    for (let l = 0; l < layers.length; l++) layers[l] = layers[l] || [];
    const up = {}, down = {};  // neighbours in the layer before and after
    for (const id of Object.keys(boxes)) { up[id] = []; down[id] = []; }
    for (const chain of chains) for (let i = 0; i + 1 < chain.length; i++) { down[chain[i]].push(chain[i + 1]); up[chain[i + 1]].push(chain[i]); }
    // the order within each layer: barycenter sweeps, ties by first appearance
    const pos = {};
    layers.forEach((layer) => layer.forEach((id, i) => { pos[id] = i; }));
    const bary = (id, nbrs) => (nbrs.length ? nbrs.reduce((a, n) => a + pos[n], 0) / nbrs.length : pos[id]);
    if (hint) {
      const across0 = (id) => (id in hint.items ? hint.items[id] : hint.labels[Number(id.split(":")[1])]);
      for (const layer of layers) {
        layer.sort((p, q) => across0(p) - across0(q) || order[p] - order[q]);
        layer.forEach((id, i) => { pos[id] = i; });
      }
    }
    for (let sweep = 0; sweep < (hint ? 0 : 8); sweep++) {
      const forward = sweep % 2 === 0;
      const seq = forward ? layers : layers.slice().reverse();
      for (const layer of seq) {
        const key = {};
        for (const id of layer) key[id] = bary(id, forward ? up[id] : down[id]);
        layer.sort((p, q) => key[p] - key[q] || order[p] - order[q]);
        layer.forEach((id, i) => { pos[id] = i; });
      }
    }
    // across: each box near the middle of its neighbours, keeping the layer's order and gaps
    const c = {};
    for (const layer of layers) {
      let at = 0;
      layer.forEach((id) => { c[id] = at + across(boxes[id]) / 2; at += across(boxes[id]) + CR.ROUTE.gap; });
    }
    const place = (layer, wanted) => {
      if (!layer.length) return;
      const offsets = [0];
      for (let i = 1; i < layer.length; i++)
        offsets.push(offsets[i - 1] + (across(boxes[layer[i - 1]]) + across(boxes[layer[i]])) / 2 + CR.ROUTE.gap);
      const q = layer.map((id, i) => wanted(id) - offsets[i]);
      const fitted = CR.spreadApart(q, 0);  // q non-decreasing: pool adjacent violators
      layer.forEach((id, i) => { c[id] = fitted[i] + offsets[i]; });
    };
    const mid = (ids, id) => (ids.length ? ids.reduce((a, n) => a + c[n], 0) / ids.length : c[id]);
    for (let sweep = 0; sweep < 12; sweep++) {
      const mode = sweep % 3;
      const seq = mode === 1 ? layers.slice().reverse() : layers;
      for (const layer of seq) place(layer, (id) => (mode === 0 ? mid(up[id], id) : mode === 1 ? mid(down[id], id) : mid([...up[id], ...down[id]], id)));
    }
    // along: layers one after the other, each as thick as its thickest box
    const start = [], thick = [];
    let at = CR.ROUTE.margin;
    layers.forEach((layer, l) => {
      thick[l] = Math.max(layer.length ? 0 : 0, ...layer.map((id) => along(boxes[id])), 8);
      start[l] = at;
      at += thick[l] + CR.ROUTE.layerGap;
    });
    const length = at - CR.ROUTE.layerGap + CR.ROUTE.margin;
    let low = Infinity, high = -Infinity;
    for (const [id, b] of Object.entries(boxes)) { low = Math.min(low, c[id] - across(b) / 2); high = Math.max(high, c[id] + across(b) / 2); }
    const shift = CR.ROUTE.margin - low, breadth = high - low + 2 * CR.ROUTE.margin;
    for (const [id, b] of Object.entries(boxes)) {
      const a = start[b.layer] + thick[b.layer] / 2, x = c[id] + shift;
      Object.assign(b, LR ? { x: a, y: x } : { x, y: a });
    }
    // the arrows: out of the source at its far side, level through each layer, straight across each gap
    const point = (u, v) => (LR ? [u, v] : [v, u]);
    const routes = chains.map((chain, k) => {
      const offset = (sign) => chain.map((id, i) => {
        const b = boxes[id], l = b.layer, centre = (LR ? b.y : b.x) + sign * CR.ROUTE.lineGap;
        const near = start[l], far = start[l] + thick[l];
        if (i === 0) return [point((LR ? b.x : b.y) + along(b) / 2, centre), point(far, centre)];
        if (i === chain.length - 1) return [point(near, centre), point((LR ? b.x : b.y) - along(b) / 2, centre)];
        return [point(near, centre), point(far, centre)];
      }).flat();
      return { forward: offset(-1), backward: offset(1).reverse(), label: boxes[`label:${k}`] };
    });
    const placed = {};
    for (const item of items) placed[item] = boxes[item];
    return { direction: LR ? "LR" : "TB", width: LR ? length : breadth, height: LR ? breadth : length, boxes: placed, routes };
  };
})(typeof module !== "undefined" ? require("./engine.js") : CR);

if (typeof module !== "undefined") module.exports = require("./engine.js");
