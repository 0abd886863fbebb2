// Recompute every graph in a file of chainrule-graph JSON documents with the page's engine and print, for each,
// the values, gradients and the texts of every backward step and branch, as the page would show them.
// Usage: node step_texts.js graphs.json  (run by tests/test_equations.py; no browser needed)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "engine.js"));

const graphs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = graphs.map((data) => {
  try {
    const r = CR.compute(data, {});
    const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n]));
    const steps = r.steps.map((s) => ({
      node: s.node, upstream_label: CR.formatValue(s.upstream),
      sent: CR.stepTexts(data, nodes[s.node], r.states[s.node], s.upstream, r.vals, s.sent),
    }));
    const terms = {};
    for (const s of r.steps) for (const x of s.sent) (terms[x.input] = terms[x.input] || []).push(x.value);
    const branches = {};
    for (const [id, list] of Object.entries(terms)) if (list.length > 1) {
      const { texts, relation } = CR.sumEquation(list, r.grads[id]);
      branches[id] = { labels: texts, relation, total: CR.formatValue(r.grads[id]) };
    }
    const numbers = (t) => (t ? Array.from(t.data) : null);
    const values = Object.fromEntries(Object.keys(data.values).map((id) => [id, [numbers(r.vals[id]), numbers(r.grads[id])]]));
    return { steps, branches, values };
  } catch (e) {
    return { error: String(e.stack || e) };
  }
});
process.stdout.write(JSON.stringify(out));
