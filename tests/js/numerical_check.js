// The page's numerical check (CR.numericalCheck) on every backward node of each graph in a JSON file; with
// --break OP the page's backward of OP is made wrong first (its gradients doubled), to see the check fail.
// Usage: node numerical_check.js graphs.json [--break Mul]   (run by tests/test_page_check.py)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "engine.js"));

const graphs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const broken = process.argv[3] === "--break" ? process.argv[4] : null;
if (broken) {
  const right = CR.OPS[broken].backward;
  CR.OPS[broken].backward = (s, d) => right(s, d).map((g) => (g ? CR.map(g, (v) => 2 * v) : g));
}
const out = graphs.map((data) => data.backward.map((step) => ({
  node: step.node, op: data.nodes.find((n) => n.id === step.node).op,
  results: CR.numericalCheck(data, {}, step.node).map((r) => ({ ...r, line: CR.checkLine(data.values[r.input].name, r) })),
})));
process.stdout.write(JSON.stringify(out));
