// chainrule's interactive page, the Images view: a convolutional network's images, filters and feature maps,
// forward (values) and backward (gradients), for one sample of the graph's batch. The cards are computed by
// pure functions (CR.imageCards, tested under Node.js against Python's numbers); CR.drawImages paints them.
"use strict";

(function (CR) {
  const MAX_CHANNELS = 4, MAX_FILTERS = 16;  // the first filters and channels shown; the card says how many there are

  // one diverging scale, zero white: purple below, orange above (PuOr: told apart by colour-blind readers)
  const NEG = [94, 60, 153], POS = [230, 97, 1], WHITE = [255, 255, 255];
  CR.divergingColour = function (v, scale) {
    if (!Number.isFinite(v)) return [0, 0, 0];
    const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0, end = t < 0 ? NEG : POS, a = Math.abs(t);
    return WHITE.map((w, i) => Math.round(w + (end[i] - w) * a));
  };
  // an input image: darker is larger (ink on paper, as the data sets' digits and clothes are drawn)
  CR.greyColour = function (v, lo, hi) {
    const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0, g = Math.round(255 * (1 - t));
    return [g, g, g];
  };

  // the (H, W) plane of sample i, channel c of a 4-D tensor (N, C, H, W): a Float64Array of H·W numbers
  function plane(t, i, c) {
    const [, C, H, W] = t.shape, start = (i * C + c) * H * W;
    return t.data.slice(start, start + H * W);
  }
  function maxAbs(arrays) {
    let m = 0;
    for (const a of arrays) for (const v of a) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
    return m;
  }
  function range(arrays) {
    let lo = Infinity, hi = -Infinity;
    for (const a of arrays) for (const v of a) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    return lo <= hi ? [lo, hi] : [0, 0];
  }

  // the tiles of one value for sample i: a 4-D value gives one tile per channel, a 2-D one a strip (1 × M)
  function sampleTiles(t, i, what) {
    if (t.shape.length === 4) {
      const [, C, H, W] = t.shape;
      return Array.from({ length: C }, (_, c) => ({ label: `${what} ${c + 1}`, channel: c, h: H, w: W, data: plane(t, i, c) }));
    }
    if (t.shape.length === 2) {
      const M = t.shape[1];
      return [{ label: what, h: 1, w: M, data: t.data.slice(i * M, (i + 1) * M) }];
    }
    return [];
  }
  // a convolution's filters (FN, C, FH, FW): one tile per filter and channel, the first MAX_CHANNELS channels
  function filterTiles(t) {
    const [FN, C, FH, FW] = t.shape, tiles = [];
    for (let f = 0; f < Math.min(FN, MAX_FILTERS); f++) for (let c = 0; c < Math.min(C, MAX_CHANNELS); c++) {
      const start = (f * C + c) * FH * FW;
      tiles.push({ label: C > 1 ? `filter ${f + 1}, channel ${c + 1}` : `filter ${f + 1}`, h: FH, w: FW, row: f, first: c === 0 && C > 1,
        data: t.data.slice(start, start + FH * FW) });
    }
    return tiles;
  }
  function filterNote([FN, C]) {
    return [FN > MAX_FILTERS ? `the first ${MAX_FILTERS} of ${FN} filters` : "", C > MAX_CHANNELS ? `the first ${MAX_CHANNELS} of ${C} channels` : ""]
      .filter(Boolean).join(", ");
  }
  function card(kind, title, shape, tiles, scale, note, ref, node) {
    const c = { kind, title, shape, tiles, note: note || "", ref: ref || null, node: node || null };
    if (kind === "image") [c.lo, c.hi] = range(tiles.map((t) => t.data));
    else c.scale = scale !== undefined ? scale : maxAbs(tiles.map((t) => t.data));
    return c;
  }
  const shapeText = (s) => `(${s.join("×")})`;

  // softmax of one row of scores: the class probabilities
  CR.probabilities = function (scores) {
    const m = Math.max(...scores), e = scores.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };

  // The cards of the Images view for sample i: in forward order, each image-like value (the input, every 4-D
  // output, a convolution's filters, the Affine layers' activations) with its values (phase "forward") or its
  // gradients (phase "backward"), and the class probabilities. `model` holds {values: id → {tensor, gradTensor}}.
  CR.imageCards = function (data, model, i, phase, classes) {
    const back = phase === "backward", cards = [];
    const get = (id) => { const m = model.values[id]; return m ? (back ? m.gradTensor : m.tensor) : null; };
    const seen = new Set();
    const name = (id) => data.values[id].name || id;
    for (const node of data.nodes) {
      for (const inp of node.inputs) {
        if (!inp.ref || seen.has(inp.ref)) continue;
        seen.add(inp.ref);
        const v = data.values[inp.ref], t = get(inp.ref);
        if (!t || !(v.role === "input" || v.role === "parameter")) continue;
        if (v.role === "input" && t.shape.length === 4) {
          const tiles = sampleTiles(t, i, "channel");
          cards.push(back ? card("diverging", `d${name(inp.ref)}: where the loss would change the picture`, t.shape, tiles, undefined, "", inp.ref)
            : card("image", `${name(inp.ref)}: the input`, t.shape, tiles, undefined, "", inp.ref));
        } else if (v.role === "parameter" && t.shape.length === 4) {
          cards.push(card("diverging", back ? `d${name(inp.ref)}: each filter's gradient` : `${name(inp.ref)}: the filters`,
            t.shape, filterTiles(t), undefined, filterNote(t.shape)));
        }
      }
      const t = get(node.output);
      if (node.op === "SoftmaxWithLoss") {
        const scores = model.values[node.inputs[0].ref] && model.values[node.inputs[0].ref].tensor;
        if (scores && scores.shape.length === 2) {
          const K = scores.shape[1], p = CR.probabilities(Array.from(scores.data.slice(i * K, (i + 1) * K)));
          const labels = data.values[node.inputs[1].ref];
          let label = null;
          if (labels && labels.value) {
            const lv = labels.value;
            label = labels.shape.length === 2 ? lv.slice(i * K, (i + 1) * K).indexOf(Math.max(...lv.slice(i * K, (i + 1) * K)))
              : lv[i];
          }
          cards.push({ kind: "bars", title: "the class probabilities (softmax of the scores)", shape: [K],
            bars: p.map((q, k) => ({ name: classes && classes[k] ? classes[k] : `class ${k}`, p: q, label: k === label })),
            note: label === null ? "" : `the label: ${classes && classes[label] ? classes[label] : `class ${label}`}` });
        }
        continue;
      }
      if (!t || (t.shape.length !== 4 && t.shape.length !== 2)) continue;
      const fromInput = node.inputs.every((inp) => !inp.ref || data.values[inp.ref].role === "input");
      if (t.shape.length === 4 && fromInput && !node.inputs.some((inp) => inp.ref && data.values[inp.ref].shape.length === 4)) {
        // the input's rows reshaped to images (a network's first step): the input, as pictures
        const tiles = sampleTiles(t, i, "channel");
        cards.push(back ? card("diverging", `d${name(node.output)}: where the loss would change the picture`, t.shape, tiles, undefined, "", node.output)
          : card("image", `${name(node.output)}: the input, as images`, t.shape, tiles, undefined, "", node.output));
        continue;
      }
      const what = t.shape.length === 4 ? "map" : "unit";
      const title = `${node.label || node.op} → ${name(node.output)}` + (back ? `: d${name(node.output)}, the gradient it receives (dout)` : "");
      const pickable = t.shape.length === 4 && (node.op === "Convolution" || (node.op === "Pooling" && node.attributes.mode === "max"));
      cards.push(card("diverging", title, t.shape, sampleTiles(t, i, what), undefined,
        (t.shape.length === 2 ? `${t.shape[1]} unit${t.shape[1] === 1 ? "" : "s"}` : `${t.shape[1]} map${t.shape[1] === 1 ? "" : "s"} of ${t.shape[2]}×${t.shape[3]}`)
        + (pickable ? " · click a position to see its window" : ""), node.output, pickable ? node.id : null));
    }
    return cards;
  };

  // ---- one output position of a convolution or a max pooling, forward and backward --------------------------
  const at4 = (t, a, b, c, d) => t.data[((a * t.shape[1] + b) * t.shape[2] + c) * t.shape[3] + d];

  // What made Y[i, f, y, z] (book §7.2–7.3, §7.4's im2col picture with the graph's numbers): the window it saw
  // on the input, and, for a convolution, the window × filter sum written out (each channel's nine products, or
  // each channel's sum where there are many); for max pooling the window's entries and which one won. Backward:
  // where that position's dout goes (dX over the window, dW of the filter) and, for the window's first input
  // entry, the col2im sum of every window that covers it. `model.values[id]` holds {tensor, gradTensor}.
  CR.windowDetail = function (data, model, nodeId, i, f, y, z) {
    const node = data.nodes.find((n) => n.id === nodeId), a = node.attributes, ref = node.inputs[0].ref;
    const x = model.values[ref].tensor, out = model.values[node.output].tensor;
    const [, C, H, W] = x.shape, s = a.stride, p = a.pad;
    const inside = (r, c) => r >= 0 && r < H && c >= 0 && c < W;
    const detail = { op: node.op, node: nodeId, input: ref, output: node.output, sample: i, channel: f, y, z,
      value: at4(out, i, f, y, z), top: y * s - p, left: z * s - p };
    const dOut = model.values[node.output].gradTensor, g = dOut ? at4(dOut, i, f, y, z) : null;
    detail.dout = g;
    if (node.op === "Pooling") {
      detail.h = a.pool_h; detail.w = a.pool_w;
      // the winners are the layer's own (engine.js's max pooling: the first maximum wins ties), not computed again
      const st = CR.OPS.Pooling.forward([x], a), [, , OH, OW] = out.shape;
      const where = (flat) => (flat < 0 ? null : [Math.floor((flat % (H * W)) / W), flat % W]);
      detail.winners = [];
      for (let yy = 0; yy < OH; yy++) for (let zz = 0; zz < OW; zz++) {
        const w = where(st.arg[((i * C + f) * OH + yy) * OW + zz]);
        if (w) detail.winners.push(w);
      }
      detail.entries = [];
      for (let u = 0; u < a.pool_h; u++) for (let v = 0; v < a.pool_w; v++) {
        const r = detail.top + u, c = detail.left + v;
        detail.entries.push({ r, c, value: inside(r, c) ? at4(x, i, f, r, c) : -Infinity });
      }
      const won = where(st.arg[((i * C + f) * OH + y) * OW + z]);
      const k = detail.entries.findIndex((e) => won && e.r === won[0] && e.c === won[1]);
      detail.argmax = k;
      const best = detail.entries[k].value;
      detail.text = [`max of the ${a.pool_h}×${a.pool_w} window [${detail.entries.map((e) => CR.formatNumber(e.value)).join(", ")}] = ${CR.formatNumber(detail.value)}: entry ${k + 1} (row ${detail.entries[k].r + 1}, column ${detail.entries[k].c + 1}) wins`
        + (detail.entries.filter((e) => e.value === best).length > 1 ? "; it is the first of the equal largest, as the layer's argmax takes it" : "")];
      detail.text.push(`every window's winner in this map is marked (small squares): in the backward pass each window's dout goes to its winner alone`);
      if (g !== null) detail.text.push(`backward: dout = ${CR.formatNumber(g)} goes to entry ${k + 1} alone; the window's other entries get 0 from this position`);
      return detail;
    }
    const Wt = model.values[node.inputs[1].ref].tensor, b = model.values[node.inputs[2].ref].tensor;
    const [, , FH, FW] = Wt.shape;
    detail.h = FH; detail.w = FW;
    const channels = [];
    for (let c = 0; c < C; c++) {
      const terms = [];
      for (let u = 0; u < FH; u++) for (let v = 0; v < FW; v++) {
        const r = detail.top + u, col = detail.left + v, xv = inside(r, col) ? at4(x, i, c, r, col) : 0;
        terms.push({ c, u, v, r, col, w: at4(Wt, f, c, u, v), x: xv });
      }
      channels.push(terms);
    }
    detail.terms = channels.flat();
    detail.bias = b.data[f];
    const many = detail.terms.length > 27;
    const parts = many ? channels.map((ts) => ts.reduce((acc, t) => acc + t.w * t.x, 0)) : detail.terms.map((t) => t.w * t.x);
    const eq = CR.sumEquation([...parts, detail.bias].map(CR.scalar), CR.scalar(detail.value));
    detail.equation = { terms: eq.texts, relation: eq.relation, result: CR.formatNumber(detail.value) };
    const num = (v) => (v < 0 ? `(${CR.formatNumber(v)})` : CR.formatNumber(v));   // negatives in parentheses
    const products = detail.terms.slice(0, FH * FW).map((t) => `${num(t.w)}×${num(t.x)}`).join(" + ");
    detail.text = [
      `Y[${f + 1}] at row ${y + 1}, column ${z + 1} = Σ W[${f + 1}] ∘ (the ${FH}×${FW} window of X at row ${detail.top + 1}, column ${detail.left + 1}`
        + (C > 1 ? `, all ${C} channels` : "") + ") + b", many ? `channel 1's products: ${products} …` : `the products: ${products}` + (C > 1 ? " …" : ""),
      `= ${eq.texts.map((t) => (t.startsWith("-") ? `(${t})` : t)).join(" + ")} ${eq.relation} ${CR.formatNumber(detail.value)}` + (many ? " (one sum per channel, then b)" : " (the last term is b)"),
    ];
    if (g !== null) {
      detail.text.push(`backward: dout = ${CR.formatNumber(g)} at this position goes back over the same window: dX += dout × W[${f + 1}] `
        + `(each window entry gets dout times its filter weight), and dW[${f + 1}] += dout × the window of X (each weight gets dout times the entry it multiplied)`);
      // col2im: the window's first entry inside the image collects dout × W from every window that covers it
      const first = detail.terms.find((t) => inside(t.r, t.col));
      const dX = model.values[ref].gradTensor;
      if (first && dX) {
        const FN = Wt.shape[0], [, , OH, OW] = out.shape;
        let count = 0, sum = 0;
        for (let ff = 0; ff < FN; ff++) for (let yy = 0; yy < OH; yy++) for (let zz = 0; zz < OW; zz++) {
          const u = first.r - (yy * s - p), v = first.col - (zz * s - p);
          if (u < 0 || u >= FH || v < 0 || v >= FW) continue;
          count++;
          sum += at4(dOut, i, ff, yy, zz) * at4(Wt, ff, first.c, u, v);
        }
        detail.col2im = { c: first.c, r: first.r, col: first.col, windows: count, sum, python: at4(dX, i, first.c, first.r, first.col) };
        detail.text.push(`col2im: X's entry at channel ${first.c + 1}, row ${first.r + 1}, column ${first.col + 1} lies in ${count} window${count === 1 ? "" : "s"} (${FN === 1 ? "of the one filter" : `over all ${FN} filters`}); `
          + `its dX is the sum of their dout × W: ${CR.formatNumber(sum)}` + (CR.formatNumber(sum) === CR.formatNumber(detail.col2im.python) ? ", as Python's dX" : ` (Python's dX: ${CR.formatNumber(detail.col2im.python)})`));
      }
    }
    return detail;
  };

  // ---- learning live: a small copy of the network, trained in the page (training/cnn_page.py) --------------------
  // The network's layers with their weights (copied: Reset starts again from spec's).
  const bytesOf = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  // numbers in [0, 1): the linear congruential sequence of Python's cnn_page.uniform_stream, exactly
  CR.uniformStream = function (seed) {
    let state = (seed * 2654435761 + 40503) % 4294967296;
    return () => { state = (Math.imul(1664525, state) + 1013904223) >>> 0; return state / 4294967296; };
  };
  // The network's layers with their start: He's uniform initialisation, W = (2u − 1)·√(6 / fan_in) in order, b = 0,
  // the very numbers Python's cnn_page.he_uniform draws (a new network each call: Reset starts again from it).
  CR.cnnNet = function (spec) {
    const next = CR.uniformStream(spec.seed);
    return spec.layers.map((l) => ({ op: l.op, attributes: l.attributes,
      params: Object.entries(l.params).map(([name, p]) => {
        const size = p.shape.reduce((a, b) => a * b, 1), data = new Float64Array(size);
        if (name === "W") { const limit = Math.sqrt(6 / p.fan_in); for (let k = 0; k < size; k++) data[k] = (2 * next() - 1) * limit; }
        return CR.tensor(p.shape, data);
      }) }));
  };
  // the mini-batches, drawn as Python's cnn_page.batches draws them (a linear congruential sequence)
  CR.cnnBatches = function (seed) {
    let state = (seed * 2654435761 + 12345) % 4294967296;
    return (samples, batch) => Array.from({ length: batch }, () => {
      state = (Math.imul(1664525, state) + 1013904223) >>> 0;
      return state % samples;
    });
  };
  const pixels = new WeakMap();
  CR.cnnInput = function (spec, idx) {
    const [C, H, W] = spec.image, size = C * H * W, data = new Float64Array(idx.length * size);
    if (!pixels.has(spec)) pixels.set(spec, bytesOf(spec.pixels));   // the 0–255 pixels, decoded once
    const x = pixels.get(spec);
    idx.forEach((i, k) => { for (let j = 0; j < size; j++) data[k * size + j] = x[i * size + j] / 255; });
    return CR.tensor([idx.length, C, H, W], data);
  };
  CR.cnnForward = function (net, x) {
    const states = [];
    let a = x;
    for (const l of net) { const st = CR.OPS[l.op].forward([a, ...l.params], l.attributes); states.push(st); a = st.out; }
    return { states, scores: a };
  };
  // One step of SGD on the samples idx: forward, softmax-with-loss, backward through every layer in reverse (book
  // §5.7.2), then W ← W − lr·dW for every parameter. Returns the batch's loss and each layer's parameter gradients.
  CR.cnnStep = function (net, spec, idx, lr) {
    const { states, scores } = CR.cnnForward(net, CR.cnnInput(spec, idx));
    const loss = CR.OPS.SoftmaxWithLoss.forward([scores, CR.tensor([idx.length], idx.map((i) => spec.t[i]))]);
    let d = CR.OPS.SoftmaxWithLoss.backward(loss, CR.scalar(1))[0];
    const grads = new Array(net.length);
    for (let k = net.length - 1; k >= 0; k--) {
      const g = CR.OPS[net[k].op].backward(states[k], d);
      d = g[0];
      grads[k] = g.slice(1, 1 + net[k].params.length);
    }
    // W ← W − lr·dW, committed only when every new weight is finite; a loss that is not finite undoes the update
    // before it (huge but finite weights overflow in the next forward pass): the Trainer's rule, a step that
    // overflows is named and the weights are those before it
    const value = loss.out.data[0];
    const snapshot = () => net.map((l) => l.params.map((p) => Float64Array.from(p.data)));
    const restore = (saved) => net.forEach((l, k) => l.params.forEach((p, j) => p.data.set(saved[k][j])));
    if (Number.isFinite(value)) {
      if (net.first === undefined) net.first = value;
      net.smoothed = net.smoothed === undefined || net.smoothed === null ? value : 0.9 * net.smoothed + 0.1 * value;
    }
    const why = CR.trainingStop(value, net.smoothed, net.first, spec.explosion_factor);
    if (why) {
      net.smoothed = null;
      if (!net.before) return { loss: value, grads, diverged: why, undone: false };
      restore(net.before);
      net.before = null;
      return { loss: value, grads, diverged: `${why} after the last update`, undone: true };
    }
    const next = net.map((l, k) => l.params.map((p, j) => {
      const g = grads[k][j].data, w = new Float64Array(p.data.length);
      for (let i = 0; i < w.length; i++) w[i] = p.data[i] - lr * g[i];
      return w;
    }));
    if (!next.every((ws) => ws.every((w) => w.every(Number.isFinite))))
      return { loss: value, grads, diverged: "the update made some weights inf or NaN", undone: false };
    net.before = snapshot();
    restore(next);
    return { loss: value, grads, diverged: null, undone: false };
  };
  // the share of the samples the network classifies right
  CR.cnnAccuracy = function (net, spec) {
    let right = 0;
    const n = spec.t.length;
    for (let s = 0; s < n; s += 50) {
      const idx = Array.from({ length: Math.min(50, n - s) }, (_, k) => s + k);
      const { scores } = CR.cnnForward(net, CR.cnnInput(spec, idx)), K = scores.shape[1];
      idx.forEach((i, k) => {
        let best = 0;
        for (let j = 1; j < K; j++) if (scores.data[k * K + j] > scores.data[k * K + best]) best = j;
        if (best === spec.t[i]) right++;
      });
    }
    return right / n;
  };
  // the cards of the learning network: each convolution's filters and, after a step, their gradients
  CR.learnCards = function (net, grads) {
    const cards = [];
    let conv = 0;
    net.forEach((l, k) => {
      if (l.op !== "Convolution") return;
      conv++;
      const note = filterNote(l.params[0].shape);
      cards.push(card("diverging", `convolution ${conv}: the filters W`, l.params[0].shape, filterTiles(l.params[0]), undefined, note));
      if (grads) cards.push(card("diverging", `convolution ${conv}: dW of the last step`, l.params[0].shape, filterTiles(grads[k][0]), undefined, note));
    });
    return cards;
  };

  // ---- painting (browser only) --------------------------------------------------------------------------------
  function paint(canvas, tile, colour) {
    canvas.width = tile.w; canvas.height = tile.h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(tile.w, tile.h);
    for (let k = 0; k < tile.data.length; k++) {
      const [r, g, b] = colour(tile.data[k]);
      img.data.set([r, g, b, 255], 4 * k);
    }
    ctx.putImageData(img, 0, 0);
  }
  function legend(doc, c) {
    const box = doc.createElement("div");
    box.className = "legend";
    const bar = doc.createElement("canvas");
    bar.width = 101; bar.height = 1;
    paint(bar, { w: 101, h: 1, data: Float64Array.from({ length: 101 }, (_, k) => (c.kind === "image" ? c.lo + (c.hi - c.lo) * k / 100 : c.scale * (k - 50) / 50)) },
      c.kind === "image" ? (v) => CR.greyColour(v, c.lo, c.hi) : (v) => CR.divergingColour(v, c.scale));
    const lo = doc.createElement("span"), hi = doc.createElement("span");
    lo.textContent = CR.formatNumber(c.kind === "image" ? c.lo : -c.scale);
    hi.textContent = CR.formatNumber(c.kind === "image" ? c.hi : c.scale);
    box.append(lo, bar, hi);
    if (c.kind !== "image") {
      const zero = doc.createElement("span");
      zero.className = "small";
      zero.textContent = "white is 0";
      box.append(zero);
    }
    return box;
  }

  // a box over a tile: rows top … top+h−1, columns left … left+w−1 (clipped to the tile), `scale` px an entry
  function box(doc, top, left, h, w, scale, cls) {
    const b = doc.createElement("div");
    b.className = cls;
    Object.assign(b.style, { top: `${top * scale}px`, left: `${left * scale}px`, width: `${w * scale}px`, height: `${h * scale}px` });
    return b;
  }

  // Paint the cards into root. `pick(card, tile, y, z)` is called when a position of a pickable card is clicked;
  // `detail` (CR.windowDetail's) is drawn over the cards: its window on the input, its position on the output.
  CR.drawImages = function (root, cards, px, pick, detail) {
    const doc = root.ownerDocument;
    root.replaceChildren();
    for (const c of cards) {
      const fig = doc.createElement("figure");
      fig.className = "image-card";
      const cap = doc.createElement("figcaption");
      cap.textContent = `${c.title} ${shapeText(c.shape)}` + (c.note ? ` · ${c.note}` : "");
      fig.append(cap);
      if (c.kind === "bars") {
        const list = doc.createElement("div");
        list.className = "bars";
        for (const b of c.bars) {
          const row = doc.createElement("div"), name = doc.createElement("span"), bar = doc.createElement("span"), val = doc.createElement("span");
          row.className = b.label ? "bar label" : "bar";
          name.textContent = b.name;
          bar.className = "fill";
          bar.style.width = `${Math.round(b.p * 100)}%`;
          val.textContent = `${(100 * b.p).toFixed(1)}%`;
          row.append(name, bar, val);
          list.append(row);
        }
        fig.append(list);
        root.append(fig);
        continue;
      }
      const grid = doc.createElement("div");
      grid.className = "tiles";
      const colour = c.kind === "image" ? (v) => CR.greyColour(v, c.lo, c.hi) : (v) => CR.divergingColour(v, c.scale);
      const size = c.tiles.length <= 4 ? 2 * px : c.tiles.length <= 16 ? Math.round(1.4 * px) : px;  // few maps: larger
      for (const t of c.tiles) {
        const cell = doc.createElement("div"), canvas = doc.createElement("canvas");
        cell.className = t.first ? "tile filter-start" : "tile";   // a filter's channels side by side, filters apart
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", `${t.label}, ${t.h}×${t.w}`);
        canvas.title = `${t.label} (${t.h}×${t.w})`;
        paint(canvas, t, colour);
        // a picture fills about px pixels; a strip of units (one row) gets up to 24 px a unit, 640 px in all
        const scale = t.h === 1 ? Math.max(1, Math.min(24, Math.floor(640 / t.w))) : Math.max(2, Math.floor(size / Math.max(t.h, t.w)));
        canvas.style.width = `${t.w * scale}px`;
        canvas.style.height = `${t.h === 1 ? 18 : t.h * scale}px`;
        cell.append(canvas);
        if (c.node && pick) {
          canvas.classList.add("pickable");
          canvas.addEventListener("click", (e) => {
            const r = canvas.getBoundingClientRect();
            pick(c, t, Math.min(t.h - 1, Math.floor((e.clientY - r.top) / scale)), Math.min(t.w - 1, Math.floor((e.clientX - r.left) / scale)));
          });
        }
        if (detail && t.h > 1) {
          const onInput = c.ref === detail.input && (detail.op === "Convolution" || t.channel === detail.channel);
          if (onInput) {
            cell.append(box(doc, detail.top, detail.left, detail.h, detail.w, scale, "window"));
            if (detail.op === "Pooling") {
              for (const [r, col] of detail.winners) cell.append(box(doc, r, col, 1, 1, scale, "winner"));
              const e = detail.entries[detail.argmax];
              cell.append(box(doc, e.r, e.c, 1, 1, scale, "argmax"));
            }
          }
          if (c.ref === detail.output && t.channel === detail.channel) cell.append(box(doc, detail.y, detail.z, 1, 1, scale, "picked"));
        }
        grid.append(cell);
      }
      fig.append(grid, legend(doc, c));
      if (detail && c.ref === detail.output) {
        const text = doc.createElement("div");
        text.className = "window-detail";
        text.setAttribute("aria-live", "polite");
        for (const line of detail.text) {
          const p = doc.createElement("p");
          p.textContent = line;
          text.append(p);
        }
        fig.append(text);
      }
      root.append(fig);
    }
  };
})(typeof module !== "undefined" ? require("./engine.js") : CR);

if (typeof module !== "undefined") module.exports = require("./engine.js");
