// chainrule's interactive page, the Images view: a convolutional network's images, filters and feature maps,
// forward (values) and backward (gradients), for one sample of the graph's batch. The cards are computed by
// pure functions (CR.imageCards, tested under Node.js against Python's numbers); CR.drawImages paints them.
"use strict";

(function (CR) {
  const MAX_CHANNELS = 8;  // a filter's first channels shown; the card says how many there are

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
      return Array.from({ length: C }, (_, c) => ({ label: `${what} ${c + 1}`, h: H, w: W, data: plane(t, i, c) }));
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
    for (let f = 0; f < FN; f++) for (let c = 0; c < Math.min(C, MAX_CHANNELS); c++) {
      const start = (f * C + c) * FH * FW;
      tiles.push({ label: C > 1 ? `filter ${f + 1}, channel ${c + 1}` : `filter ${f + 1}`, h: FH, w: FW, row: f,
        data: t.data.slice(start, start + FH * FW) });
    }
    return tiles;
  }
  function card(kind, title, shape, tiles, scale, note) {
    const c = { kind, title, shape, tiles, note: note || "" };
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
          cards.push(back ? card("diverging", `d${name(inp.ref)}: where the loss would change the picture`, t.shape, tiles)
            : card("image", `${name(inp.ref)}: the input`, t.shape, tiles));
        } else if (v.role === "parameter" && t.shape.length === 4) {
          const C = t.shape[1];
          cards.push(card("diverging", back ? `d${name(inp.ref)}: each filter's gradient` : `${name(inp.ref)}: the filters`,
            t.shape, filterTiles(t), undefined, C > MAX_CHANNELS ? `the first ${MAX_CHANNELS} of ${C} channels` : ""));
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
        cards.push(back ? card("diverging", `d${name(node.output)}: where the loss would change the picture`, t.shape, tiles)
          : card("image", `${name(node.output)}: the input, as images`, t.shape, tiles));
        continue;
      }
      const what = t.shape.length === 4 ? "map" : "unit";
      const title = `${node.label || node.op} → ${name(node.output)}` + (back ? `: d${name(node.output)}, the gradient it receives (dout)` : "");
      cards.push(card("diverging", title, t.shape, sampleTiles(t, i, what), undefined,
        t.shape.length === 2 ? `${t.shape[1]} units` : `${t.shape[1]} maps of ${t.shape[2]}×${t.shape[3]}`));
    }
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

  CR.drawImages = function (root, cards, px) {
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
      for (const t of c.tiles) {
        const cell = doc.createElement("div"), canvas = doc.createElement("canvas");
        cell.className = "tile";
        canvas.setAttribute("role", "img");
        canvas.setAttribute("aria-label", `${t.label}, ${t.h}×${t.w}`);
        canvas.title = `${t.label} (${t.h}×${t.w})`;
        paint(canvas, t, colour);
        // a picture fills about px pixels; a strip of units (one row) gets up to 24 px a unit, 640 px in all
        const scale = t.h === 1 ? Math.max(1, Math.min(24, Math.floor(640 / t.w))) : Math.max(2, Math.floor(px / Math.max(t.h, t.w)));
        canvas.style.width = `${t.w * scale}px`;
        canvas.style.height = `${t.h === 1 ? 18 : t.h * scale}px`;
        cell.append(canvas);
        grid.append(cell);
      }
      fig.append(grid, legend(doc, c));
      root.append(fig);
    }
  };
})(typeof module !== "undefined" ? require("./engine.js") : CR);

if (typeof module !== "undefined") module.exports = require("./engine.js");
