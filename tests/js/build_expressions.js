// Build each expression of a JSON file with the page's parser and describe its graph (CR.describeGraph), or
// give the error, as tests/test_expression_page.py compares with chainrule.expression.build + describe.
// Usage: node build_expressions.js cases.json   where cases = {catalogue, cases: [{text, values: {name: {shape, data}}}]}
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "expression.js"));

const { catalogue, cases } = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = cases.map(({ text, values }) => {
  const tensors = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, CR.tensor(v.shape, v.data)]));
  try {
    return { data: CR.describeGraph(CR.expressionOutput(text, tensors, catalogue)) };
  } catch (e) {
    if (e instanceof CR.ExpressionError) return { error: e.message };
    return { crash: String(e.stack || e) };
  }
});
process.stdout.write(JSON.stringify(out));
