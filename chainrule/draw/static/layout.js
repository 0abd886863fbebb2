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
})(typeof module !== "undefined" ? require("./engine.js") : CR);

if (typeof module !== "undefined") module.exports = require("./engine.js");
