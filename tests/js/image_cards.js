// The Images view's cards for every sample and both passes of each graph in a file of chainrule-graph JSON
// documents, computed by the page's own functions (images.js) from Python's numbers, as the page shows them.
// Usage: node image_cards.js graphs.json  (run by tests/test_images_view.py; no browser needed)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "images.js"));

const graphs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = graphs.map((data) => {
  const values = {};
  for (const [id, v] of Object.entries(data.values))
    values[id] = { tensor: v.value ? CR.tensor(v.shape, v.value) : null, gradTensor: v.grad ? CR.tensor(v.shape, v.grad) : null };
  const model = { values };
  const n = Object.values(data.values).find((v) => v.role === "input").shape[0];
  const result = {};
  for (let i = 0; i < n; i++) for (const phase of ["forward", "backward"])
    result[`${i} ${phase}`] = CR.imageCards(data, model, i, phase, data.classes).map((c) => ({
      ...c, tiles: (c.tiles || []).map((t) => ({ ...t, data: Array.from(t.data) })),
    }));
  // one output position of every convolution and max pooling: the first and a middle one, each filter's first
  const details = [];
  for (const node of data.nodes) {
    if (!(node.op === "Convolution" || (node.op === "Pooling" && node.attributes.mode === "max"))) continue;
    const [, F, OH, OW] = data.values[node.output].shape;
    for (const [i, f, y, z] of [[0, 0, 0, 0], [n - 1, F - 1, Math.floor(OH / 2), Math.floor(OW / 2)], [0, Math.floor(F / 2), OH - 1, OW - 1]])
      details.push(CR.windowDetail(data, model, node.id, i, f, y, z));
  }
  result.details = details;
  return result;
});
process.stdout.write(JSON.stringify(out));
