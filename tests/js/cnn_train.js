// The page's live CNN training, under Node.js: for each spec in a file of cnn_training JSON documents (written by
// chainrule.training.cnn_page), the losses of the first steps the page takes, and its accuracy before and after.
// Usage: node cnn_train.js specs.json  (run by tests/test_images_view.py)
"use strict";
const fs = require("fs");
const path = require("path");
const CR = require(path.join(__dirname, "..", "..", "chainrule", "draw", "static", "images.js"));

const specs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
process.stdout.write(JSON.stringify(specs.map((spec) => {
  const net = CR.cnnNet(spec), next = CR.cnnBatches(spec.seed), losses = [], batches = [];
  const before = CR.cnnAccuracy(net, spec);
  for (let k = 0; k < spec.steps; k++) {
    const idx = next(spec.t.length, spec.batch);
    batches.push(idx);
    losses.push(CR.cnnStep(net, spec, idx, spec.lr).loss);
  }
  // a learning rate that overflows: the step is refused (named), the weights stay those before it
  const weights = JSON.stringify(net.map((l) => l.params.map((p) => Array.from(p.data))));
  let wild = CR.cnnStep(net, spec, next(spec.t.length, spec.batch), 1e300);
  if (!wild.diverged) wild = CR.cnnStep(net, spec, next(spec.t.length, spec.batch), 1e300);
  const kept = JSON.stringify(net.map((l) => l.params.map((p) => Array.from(p.data)))) === weights;
  return { losses, batches, before, after: CR.cnnAccuracy(net, spec), again: CR.cnnAccuracy(CR.cnnNet(spec), spec),
           diverged: wild.diverged, kept };
})));
