// Read expressions (a JSON list of texts) with the page's parser and write each back as the page's messages
// quote it (CR.unparse, the page's ast.unparse), or null where the page refuses the text.
// Usage: node unparse.js texts.json
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "expression.js"));

const texts = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
process.stdout.write(JSON.stringify(texts.map((text) => {
  try {
    return CR.unparse(text);
  } catch (e) {
    if (e instanceof CR.ExpressionError) return null;
    throw e;
  }
})));
