// Every convolution and pooling node of each graph in a file of chainrule-graph JSON documents, recomputed by the
// page's engine from the node's own inputs (Python's numbers), forward and backward with the upstream gradient the
// node received in Python. Prints, per node, the largest relative difference from Python's output and gradients.
// Usage: node layer_ops.js graphs.json  (run by tests/test_images_view.py; in Chromium the same code runs in the page)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "engine.js"));

CR.layerDifferences = function (data, ops) {
  // the largest difference, relative to the largest number of Python's array
  const rel = (a, b) => {
    let m = 0, top = 0;
    for (let k = 0; k < b.length; k++) { m = Math.max(m, Math.abs(a[k] - b[k])); top = Math.max(top, Math.abs(b[k])); }
    return a.length === b.length ? m / Math.max(top, 1e-300) : Infinity;
  };
  const found = [];
  for (const node of data.nodes) {
    if (!ops.includes(node.op)) continue;
    const inputs = node.inputs.map((inp) => { const v = data.values[inp.ref]; return CR.tensor(v.shape, v.value); });
    const st = CR.OPS[node.op].forward(inputs, node.attributes);
    const out = data.values[node.output];
    const step = data.backward.find((s) => s.node === node.id);
    const grads = CR.OPS[node.op].backward(st, CR.tensor(out.shape, step.upstream));
    const sent = step.sent.map((x) => rel(grads[node.inputs.findIndex((inp) => inp.ref === x.input)].data, Float64Array.from(x.value, CR.fromJSON)));
    found.push({ node: node.id, op: node.op, forward: rel(st.out.data, Float64Array.from(out.value, CR.fromJSON)), backward: Math.max(0, ...sent), inputs: step.sent.length });
  }
  return found;
};
if (require.main === module) {
  const graphs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  process.stdout.write(JSON.stringify(graphs.map((d) => CR.layerDifferences(d, ["Convolution", "Pooling"]))));
}
