// For each case (a chainrule-graph document and edited leaf values), the page's report of the first step that
// makes inf or NaN from finite inputs (CR.nonFiniteReport), or null: compared with Python's NonFiniteError.
// Usage: node nonfinite.js cases.json  (run by tests/test_page_check.py; no browser needed)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "engine.js"));

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
process.stdout.write(JSON.stringify(cases.map(({ data, edits }) => {
  const leaves = Object.fromEntries(Object.entries(edits).map(([id, e]) => [id, CR.tensor(e.shape, e.data)]));
  return CR.nonFiniteReport(data, CR.compute(data, leaves));
})));
