// chainrule's page engine: arrays, the number format, and the forward and backward rule of every op the page
// can recompute. Python (chainrule.layers) is the source of truth; this file follows it rule for rule so that the
// page can recompute a graph when an input is edited, and tests check that both give the same numbers.
"use strict";

const CR = {};

// ---- numbers: the one format shared with chainrule/draw/numbers.py ---------------------------------------
CR.SIGNIFICANT = 4;
CR.FULL_LIMIT = 12;
CR.NUMBERS_PER_LINE = 5;

// x as a correctly rounded decimal with `digits` decimals, ties away from zero (JavaScript's toFixed rule,
// which Python reproduces with Decimal(x).quantize(..., ROUND_HALF_UP)).
CR.formatNumber = function (v, significant) {
  const sig = significant || CR.SIGNIFICANT;
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (v === 0) return "0";
  if (Math.abs(v) < 1e15 && Number.isInteger(v)) return String(v);
  const [mant, exp] = v.toExponential(sig - 1).split("e");
  const exponent = parseInt(exp, 10);
  if (exponent >= -5 && exponent < 6) {
    const decimals = Math.max(sig - 1 - exponent, 0);
    return CR.strip(Math.abs(v) >= 1e21 ? String(v) : v.toFixed(decimals));
  }
  const sign = exponent < 0 ? "-" : "+";
  const e = String(Math.abs(exponent)).padStart(2, "0");
  return CR.strip(mant) + "e" + sign + e;
};

CR.strip = function (text) {
  if (text.indexOf(".") < 0) return text;
  text = text.replace(/0+$/, "").replace(/\.$/, "");
  return text === "-0" || text === "" ? "0" : text;
};

// Exactly rounded sum (CPython's math.fsum), so that means agree with Python to the last bit.
CR.fsum = function (values) {
  const partials = [];
  for (let x of values) {
    let i = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j];
      if (Math.abs(x) < Math.abs(y)) { const t = x; x = y; y = t; }
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length, hi = 0, lo = 0;
  if (n > 0) {
    hi = partials[--n];
    while (n > 0) {
      const x = hi, y = partials[--n];
      hi = x + y;
      lo = y - (hi - x);
      if (lo) break;
    }
    if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
      const y = lo * 2, x = hi + y;
      if (y === x - hi) hi = x;
    }
  }
  return hi;
};

CR.shapeText = (shape) => "(" + shape.join("×") + ")";

CR.formatValue = function (t, limit, significant) {
  limit = limit === undefined || limit === null ? CR.FULL_LIMIT : limit;
  if (t.shape.length === 0) return CR.formatNumber(t.data[0], significant);
  if (t.data.length <= limit) return CR.nested(t, 0, 0, significant);
  let min = Infinity, max = -Infinity;
  for (const v of t.data) { if (v < min) min = v; if (v > max) max = v; }
  const mean = CR.fsum(t.data) / t.data.length;
  return `${CR.shapeText(t.shape)} min ${CR.formatNumber(min)}, mean ${CR.formatNumber(mean)}, max ${CR.formatNumber(max)}`;
};

// a label's lines in a drawing (numbers.label_lines): a matrix a row per line, and a row of more than
// NUMBERS_PER_LINE + 1 numbers on lines of NUMBERS_PER_LINE
CR.labelLines = function (text) {
  const rows = String(text).split("], ["), out = [], per = CR.NUMBERS_PER_LINE;
  rows.forEach((row, i) => {
    const line = (i ? " [" : "") + row + (i < rows.length - 1 ? "]," : ""), parts = line.split(", ");
    if (parts.length <= per + 1) { out.push(line); return; }
    for (let k = 0; k < parts.length; k += per)
      out.push((k ? " " : "") + parts.slice(k, k + per).join(", ") + (k + per < parts.length ? "," : ""));
  });
  return out;
};

CR.nested = function (t, axis, offset, significant) {
  if (axis === t.shape.length) return CR.formatNumber(t.data[offset], significant);
  const stride = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const parts = [];
  for (let i = 0; i < t.shape[axis]; i++) parts.push(CR.nested(t, axis + 1, offset + i * stride, significant));
  return "[" + parts.join(", ") + "]";
};

// ---- arrays --------------------------------------------------------------------------------------------
// numbers from the graph JSON: non-finite ones come as the strings "inf", "-inf", "NaN" (graphdata.json_number)
CR.fromJSON = (v) => (typeof v === "string" ? { inf: Infinity, "-inf": -Infinity, NaN: NaN }[v] : v);
CR.toJSON = (v) => (Number.isFinite(v) ? v : Number.isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf");
CR.tensor = (shape, data) => ({ shape: shape.slice(), data: data instanceof Float64Array ? data : Float64Array.from(data, CR.fromJSON) });
CR.size = (shape) => shape.reduce((a, b) => a * b, 1);
CR.zeros = (shape) => CR.tensor(shape, new Float64Array(CR.size(shape)));
CR.full = (shape, v) => CR.tensor(shape, new Float64Array(CR.size(shape)).fill(v));
CR.scalar = (v) => CR.tensor([], [v]);
CR.copy = (t) => CR.tensor(t.shape, Float64Array.from(t.data));
CR.map = (t, f) => CR.tensor(t.shape, t.data.map(f));
CR.isScalar = (t) => t.data.length === 1;
CR.strides = function (shape) {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
};

CR.broadcastShapes = function (a, b) {
  const n = Math.max(a.length, b.length), out = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`cannot broadcast ${CR.shapeText(a)} with ${CR.shapeText(b)}`);
    out.push(x === 1 ? y : x);
  }
  return out;
};

// the index into t for each position of `shape` (t broadcast to it)
CR.broadcastIndex = function (t, shape) {
  const n = shape.length, ts = CR.strides(t.shape), idx = new Int32Array(CR.size(shape));
  const pos = new Array(n).fill(0);
  for (let k = 0; k < idx.length; k++) {
    let off = 0;
    for (let i = 0; i < n; i++) {
      const ti = i - (n - t.shape.length);
      if (ti >= 0 && t.shape[ti] !== 1) off += pos[i] * ts[ti];
    }
    idx[k] = off;
    for (let i = n - 1; i >= 0; i--) { if (++pos[i] < shape[i]) break; pos[i] = 0; }
  }
  return idx;
};

CR.binary = function (a, b, f) {
  const shape = CR.broadcastShapes(a.shape, b.shape);
  const ia = CR.broadcastIndex(a, shape), ib = CR.broadcastIndex(b, shape);
  const out = new Float64Array(ia.length);
  for (let k = 0; k < out.length; k++) out[k] = f(a.data[ia[k]], b.data[ib[k]]);
  return CR.tensor(shape, out);
};

// the backward rule of broadcasting: sum g down to `shape` (array_math.sum_to)
CR.sumTo = function (g, shape) {
  if (g.shape.length === shape.length && g.shape.every((n, i) => n === shape[i])) return g;
  const out = CR.zeros(shape);
  const idx = CR.broadcastIndex(out, g.shape);
  for (let k = 0; k < idx.length; k++) out.data[idx[k]] += g.data[k];
  return out;
};

CR.matmul2 = function (a, b) {  // (m×k)·(k×n)
  const [m, k] = a.shape, n = b.shape[1], out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p] * b.data[p * n + j];
      out[i * n + j] = s;
    }
  return CR.tensor([m, n], out);
};

CR.transpose = function (t, axes) {
  const n = t.shape.length;
  axes = axes || [...Array(n).keys()].reverse();
  const shape = axes.map((a) => t.shape[a]), ts = CR.strides(t.shape), out = new Float64Array(t.data.length);
  const pos = new Array(n).fill(0);
  for (let k = 0; k < out.length; k++) {
    let off = 0;
    for (let i = 0; i < n; i++) off += pos[i] * ts[axes[i]];
    out[k] = t.data[off];
    for (let i = n - 1; i >= 0; i--) { if (++pos[i] < shape[i]) break; pos[i] = 0; }
  }
  return CR.tensor(shape, out);
};

CR.reshape = (t, shape) => {
  const known = shape.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
  return CR.tensor(shape.map((s) => (s === -1 ? t.data.length / known : s)), t.data);
};

CR.reduceSum = function (t, axes, keepdims) {
  const n = t.shape.length;
  axes = axes === null || axes === undefined ? [...Array(n).keys()] : axes.map((a) => (a < 0 ? a + n : a));
  const kept = t.shape.map((s, i) => (axes.includes(i) ? 1 : s));
  const out = CR.zeros(kept);
  const idx = CR.broadcastIndex(out, t.shape);
  for (let k = 0; k < idx.length; k++) out.data[idx[k]] += t.data[k];
  return keepdims ? out : CR.tensor(t.shape.filter((s, i) => !axes.includes(i)), out.data);
};

CR.rows = (t) => (t.shape.length === 1 ? [1, t.shape[0]] : [t.shape[0], t.data.length / t.shape[0]]);

CR.softmaxRows = function (t) {
  const [n, c] = CR.rows(t), out = new Float64Array(t.data.length);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, t.data[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) { out[i * c + j] = Math.exp(t.data[i * c + j] - m); s += out[i * c + j]; }
    for (let j = 0; j < c; j++) out[i * c + j] /= s;
  }
  return CR.tensor(t.shape, out);
};

// ---- the ops: forward(inputs, attributes) → state with .out; backward(state, dout) → one gradient per input --
const unary = (f, df) => ({
  forward: ([x]) => { const out = CR.map(x, f); return { x, out }; },
  backward: (s, d) => [CR.tensor(d.shape, d.data.map((g, i) => g * df(s.x.data[i], s.out.data[i])))],
});

CR.OPS = {
  Mul: { forward: ([x, y]) => ({ x, y, out: CR.binary(x, y, (a, b) => a * b) }),
         backward: (s, d) => [CR.sumTo(CR.binary(d, s.y, (a, b) => a * b), s.x.shape),
                              CR.sumTo(CR.binary(d, s.x, (a, b) => a * b), s.y.shape)] },
  Add: { forward: ([x, y]) => ({ x, y, out: CR.binary(x, y, (a, b) => a + b) }),
         backward: (s, d) => [CR.sumTo(d, s.x.shape), CR.sumTo(d, s.y.shape)] },
  Sub: { forward: ([x, y]) => ({ x, y, out: CR.binary(x, y, (a, b) => a - b) }),
         backward: (s, d) => [CR.sumTo(d, s.x.shape), CR.sumTo(CR.map(d, (g) => -g), s.y.shape)] },
  Div: { forward: ([x, y]) => ({ x, y, out: CR.binary(x, y, (a, b) => a / b) }),
         backward: (s, d) => [CR.sumTo(CR.binary(d, s.y, (a, b) => a / b), s.x.shape),
                              CR.sumTo(CR.binary(CR.binary(d, s.x, (a, b) => -a * b), s.y, (a, b) => a / (b * b)), s.y.shape)] },
  Neg: { forward: ([x]) => ({ x, out: CR.map(x, (v) => -v) }), backward: (s, d) => [CR.map(d, (g) => -g)] },
  Pow: { forward: ([x], a) => ({ x, p: a.p, out: CR.map(x, (v) => v ** a.p) }),
         backward: (s, d) => [s.p === 0 ? CR.zeros(d.shape) : CR.tensor(d.shape, d.data.map((g, i) => g * s.p * s.x.data[i] ** (s.p - 1)))] },
  Exp: unary(Math.exp, (x, y) => y),
  Log: unary(Math.log, (x) => 1 / x),
  Relu: { forward: ([x]) => ({ x, out: CR.map(x, (v) => Math.max(v, 0)), reluMask: Array.from(x.data, (v) => (v > 0 ? 1 : 0)).join("") }),
          backward: (s, d) => [CR.tensor(d.shape, d.data.map((g, i) => (s.x.data[i] > 0 ? g : 0)))] },
  Sigmoid: unary((v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))), (x, y) => (1 - y) * y),
  Tanh: unary(Math.tanh, (x, y) => 1 - y * y),
  Softmax: {
    forward: ([x]) => ({ x, out: CR.softmaxRows(x) }),
    backward: (s, d) => {
      const [n, c] = CR.rows(s.out), y = s.out.data, out = new Float64Array(y.length);
      for (let i = 0; i < n; i++) {
        let dot = 0;
        for (let j = 0; j < c; j++) dot += d.data[i * c + j] * y[i * c + j];
        for (let j = 0; j < c; j++) out[i * c + j] = y[i * c + j] * (d.data[i * c + j] - dot);
      }
      return [CR.tensor(d.shape, out)];
    },
  },
  MatMul: {
    forward: ([a, b]) => {
      const A = a.shape.length === 1 ? CR.reshape(a, [1, -1]) : a, B = b.shape.length === 1 ? CR.reshape(b, [-1, 1]) : b;
      const out = CR.matmul2(A, B);
      const shape = [...(a.shape.length > 1 ? [a.shape[0]] : []), ...(b.shape.length > 1 ? [b.shape[1]] : [])];
      return { a, b, A, B, out: CR.reshape(out, shape) };
    },
    backward: (s, d) => {
      const D = CR.reshape(d, [s.A.shape[0], s.B.shape[1]]);
      return [CR.reshape(CR.matmul2(D, CR.transpose(s.B)), s.a.shape), CR.reshape(CR.matmul2(CR.transpose(s.A), D), s.b.shape)];
    },
  },
  Affine: {
    forward: ([x, W, b]) => {
      const x2 = CR.reshape(x, x.shape.length === 1 ? [1, -1] : [x.shape[0], -1]);
      const out = CR.binary(CR.matmul2(x2, W), b, (p, q) => p + q);
      return { x, x2, W, out: x.shape.length === 1 ? CR.reshape(out, [W.shape[1]]) : out };
    },
    backward: (s, d) => {
      const D = CR.reshape(d, [s.x2.shape[0], s.W.shape[1]]);
      return [CR.reshape(CR.matmul2(D, CR.transpose(s.W)), s.x.shape), CR.matmul2(CR.transpose(s.x2), D),
              CR.reduceSum(D, [0], false)];
    },
  },
  Sum: { forward: ([x], a) => ({ x, a, out: CR.reduceSum(x, a.axis, a.keepdims) }),
         backward: (s, d) => [CR.spread(s, d, 1)] },
  Mean: { forward: ([x], a) => {
            const out = CR.reduceSum(x, a.axis, a.keepdims), count = x.data.length / out.data.length;
            return { x, a, count, out: CR.map(out, (v) => v / count) };
          },
          backward: (s, d) => [CR.spread(s, d, s.count)] },
  Reshape: { forward: ([x], a) => ({ x, out: CR.reshape(x, a.shape) }), backward: (s, d) => [CR.reshape(d, s.x.shape)] },
  Transpose: {
    forward: ([x], a) => ({ x, axes: a.axes, out: CR.transpose(x, a.axes) }),
    backward: (s, d) => {
      if (!s.axes) return [CR.transpose(d)];
      const inverse = s.axes.map((_, i) => s.axes.indexOf(i));
      return [CR.transpose(d, inverse)];
    },
  },
  SoftmaxWithLoss: {
    forward: ([x, t]) => {
      const x2 = CR.reshape(x, CR.rows(x)), [n, c] = x2.shape, y = CR.softmaxRows(x2);
      const onehot = t.data.length === n * c && !(t.shape.length === 1 && t.shape[0] === n && c !== 1);
      let total = 0;
      for (let i = 0; i < n; i++) {
        let m = -Infinity;
        for (let j = 0; j < c; j++) m = Math.max(m, x2.data[i * c + j]);
        let s = 0;
        for (let j = 0; j < c; j++) s += Math.exp(x2.data[i * c + j] - m);
        for (let j = 0; j < c; j++) {
          const w = onehot ? t.data[i * c + j] : (t.data[i] === j ? 1 : 0);
          if (w) total -= w * (x2.data[i * c + j] - m - Math.log(s));
        }
      }
      return { x, y, t, n, c, onehot, out: CR.scalar(total / n) };
    },
    backward: (s, d) => {
      const g = d.data[0] / s.n, out = new Float64Array(s.y.data.length);
      for (let i = 0; i < s.n; i++)
        for (let j = 0; j < s.c; j++) {
          const t = s.onehot ? s.t.data[i * s.c + j] : (s.t.data[i] === j ? 1 : 0);
          out[i * s.c + j] = (s.y.data[i * s.c + j] - t) * g;
        }
      return [CR.tensor(s.x.shape, out), null];
    },
  },
  MeanSquaredError: {
    forward: ([y, t]) => {
      const diff = CR.binary(y, t, (a, b) => a - b), n = y.shape.length > 1 ? y.shape[0] : 1;
      return { diff, n, out: CR.scalar(0.5 * diff.data.reduce((a, v) => a + v * v, 0) / n) };
    },
    backward: (s, d) => {
      const dy = CR.map(s.diff, (v) => v * d.data[0] / s.n);
      return [dy, CR.map(dy, (v) => -v)];
    },
  },
  Dropout: {
    forward: ([x], a) => ({ scale: a.scale ? CR.tensor(x.shape, a.scale) : null,
                            out: a.scale ? CR.binary(x, CR.tensor(x.shape, a.scale), (p, q) => p * q) : x }),
    backward: (s, d) => [s.scale ? CR.binary(d, s.scale, (p, q) => p * q) : d],
  },
  BatchNormalization: {
    // x as (n, f, l): f features over n rows (l = 1), or images (N, C, H, W) with one γ per channel: f = C,
    // l = H·W, the statistics over the m = n·l positions of each channel (as layers/regularization.py)
    forward: ([x, gamma, beta], a) => {
      const f = gamma.data.length, size = x.data.length, n = x.shape[0];
      const perChannel = x.shape.length === 4 && x.shape[1] === f && f !== size / n;
      const l = perChannel ? size / (n * f) : 1, m = n * l, at = (i, j, k) => (i * f + j) * l + k;
      const xn = new Float64Array(size), std = new Float64Array(f), out = new Float64Array(size);
      for (let j = 0; j < f; j++) {
        let mu, v;
        if (a.training) {
          mu = 0; for (let i = 0; i < n; i++) for (let k = 0; k < l; k++) mu += x.data[at(i, j, k)]; mu /= m;
          v = 0; for (let i = 0; i < n; i++) for (let k = 0; k < l; k++) v += (x.data[at(i, j, k)] - mu) ** 2; v /= m;
        } else { mu = a.running_mean[j]; v = a.running_var[j]; }
        std[j] = Math.sqrt(v + a.eps);
        for (let i = 0; i < n; i++) for (let k = 0; k < l; k++) {
          const q = at(i, j, k);
          xn[q] = (x.data[q] - mu) / std[j];
          out[q] = gamma.data[j] * xn[q] + beta.data[j];
        }
      }
      return { x, gamma, n, f, l, m, xn, std, training: a.training, out: CR.tensor(x.shape, out) };
    },
    backward: (s, d) => {
      const { n, f, l, m } = s, at = (i, j, k) => (i * f + j) * l + k;
      const dx = new Float64Array(s.xn.length), dgamma = new Float64Array(f), dbeta = new Float64Array(f);
      for (let j = 0; j < f; j++)
        for (let i = 0; i < n; i++) for (let k = 0; k < l; k++) {
          const q = at(i, j, k);
          dbeta[j] += d.data[q]; dgamma[j] += d.data[q] * s.xn[q];
        }
      for (let j = 0; j < f; j++) {
        const g = s.gamma.data[j] / s.std[j];
        for (let i = 0; i < n; i++) for (let k = 0; k < l; k++) {
          const q = at(i, j, k);
          dx[q] = s.training ? g * (d.data[q] - dbeta[j] / m - s.xn[q] * (dgamma[j] / m)) : g * d.data[q];
        }
      }
      return [CR.tensor(s.x.shape, dx), CR.tensor([f], dgamma), CR.tensor([f], dbeta)];
    },
  },
  Convolution: {
    forward: ([x, W, b], a) => {
      const [n, c, h, w] = x.shape, [fn, , fh, fw] = W.shape, s = a.stride, p = a.pad;
      const oh = Math.floor((h + 2 * p - fh) / s) + 1, ow = Math.floor((w + 2 * p - fw) / s) + 1;
      const out = new Float64Array(n * fn * oh * ow);
      const at = (t, i0, i1, i2, i3) => t.data[((i0 * t.shape[1] + i1) * t.shape[2] + i2) * t.shape[3] + i3];
      for (let i = 0; i < n; i++) for (let f = 0; f < fn; f++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
        let v = b.data[f];
        for (let ch = 0; ch < c; ch++) for (let u = 0; u < fh; u++) for (let q = 0; q < fw; q++) {
          const r = y * s + u - p, col = z * s + q - p;
          if (r >= 0 && r < h && col >= 0 && col < w) v += at(W, f, ch, u, q) * at(x, i, ch, r, col);
        }
        out[((i * fn + f) * oh + y) * ow + z] = v;
      }
      return { x, W, s, p, oh, ow, out: CR.tensor([n, fn, oh, ow], out) };
    },
    backward: (st, d) => {
      const { x, W, s, p, oh, ow } = st, [n, c, h, w] = x.shape, [fn, , fh, fw] = W.shape;
      const dx = new Float64Array(x.data.length), dW = new Float64Array(W.data.length), db = new Float64Array(fn);
      for (let i = 0; i < n; i++) for (let f = 0; f < fn; f++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
        const g = d.data[((i * fn + f) * oh + y) * ow + z];
        db[f] += g;
        for (let ch = 0; ch < c; ch++) for (let u = 0; u < fh; u++) for (let q = 0; q < fw; q++) {
          const r = y * s + u - p, col = z * s + q - p;
          if (r < 0 || r >= h || col < 0 || col >= w) continue;
          const xi = ((i * c + ch) * h + r) * w + col, wi = ((f * c + ch) * fh + u) * fw + q;
          dW[wi] += g * x.data[xi];
          dx[xi] += g * W.data[wi];
        }
      }
      return [CR.tensor(x.shape, dx), CR.tensor(W.shape, dW), CR.tensor([fn], db)];
    },
  },
  Pooling: {
    forward: ([x], a) => {
      const [n, c, h, w] = x.shape, s = a.stride, p = a.pad, ph = a.pool_h, pw = a.pool_w;
      const oh = Math.floor((h + 2 * p - ph) / s) + 1, ow = Math.floor((w + 2 * p - pw) / s) + 1;
      const out = new Float64Array(n * c * oh * ow), arg = new Int32Array(out.length);
      for (let i = 0; i < n * c; i++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
        let best = -Infinity, where = -1, sum = 0;
        for (let u = 0; u < ph; u++) for (let q = 0; q < pw; q++) {
          const r = y * s + u - p, col = z * s + q - p;
          const inside = r >= 0 && r < h && col >= 0 && col < w, v = inside ? x.data[(i * h + r) * w + col] : (a.mode === "max" ? -Infinity : 0);
          sum += v;
          if (v > best || where < 0) { best = v; where = inside ? (i * h + r) * w + col : -1; }  // the first maximum wins ties
        }
        const k = (i * oh + y) * ow + z;
        out[k] = a.mode === "max" ? best : sum / (ph * pw);
        arg[k] = where;
      }
      return { x, a, oh, ow, arg, out: CR.tensor([n, c, oh, ow], out) };
    },
    backward: (st, d) => {
      const { x, a, oh, ow, arg } = st, [n, c, h, w] = x.shape, dx = new Float64Array(x.data.length);
      for (let i = 0; i < n * c; i++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
        const k = (i * oh + y) * ow + z;
        if (a.mode === "max") { if (arg[k] >= 0) dx[arg[k]] += d.data[k]; continue; }
        for (let u = 0; u < a.pool_h; u++) for (let q = 0; q < a.pool_w; q++) {
          const r = y * a.stride + u - a.pad, col = z * a.stride + q - a.pad;
          if (r >= 0 && r < h && col >= 0 && col < w) dx[(i * h + r) * w + col] += d.data[k] / (a.pool_h * a.pool_w);
        }
      }
      return [CR.tensor(x.shape, dx)];
    },
  },
  Flatten: { forward: ([x]) => ({ x, out: CR.reshape(x, [x.shape[0], -1]) }), backward: (s, d) => [CR.reshape(d, s.x.shape)] },
};
// dout / n copied to every summed (averaged) element: Sum's and Mean's backward rule
CR.spread = function (s, d, n) {
  const kept = CR.reshape(d, s.x.shape.map((size, i) => (CR.summed(s, i) ? 1 : size)));
  return CR.tensor(s.x.shape, Float64Array.from(CR.broadcastIndex(kept, s.x.shape), (k) => d.data[k] / n));
};
CR.summed = (s, i) => {
  const n = s.x.shape.length, axes = s.a.axis === null ? [...Array(n).keys()] : s.a.axis.map((a) => (a < 0 ? a + n : a));
  return axes.includes(i);
};

// ---- a recorded graph, recomputed ------------------------------------------------------------------------
CR.valueOf = (v) => (v.value ? CR.tensor(v.shape, v.value) : null);

// Forward in the recorded order, then backward in the recorded order, accumulating gradients like the engine.
// `leaves` overrides input values by id; `override` = {node, index, value} feeds one node a different input
// (for the numerical check of that node's gradient).
CR.compute = function (data, leaves, override) {
  const vals = {}, states = {};
  for (const [id, v] of Object.entries(data.values))
    if (v.role !== "intermediate" && v.role !== "output" || !data.nodes.some((n) => n.output === id)) vals[id] = (leaves && leaves[id]) || CR.valueOf(v);
  for (const node of data.nodes) {
    const inputs = node.inputs.map((inp, i) => {
      if (override && override.node === node.id && override.index === i) return override.value;
      return inp.ref ? vals[inp.ref] : CR.scalar(inp.folded);
    });
    const st = CR.OPS[node.op].forward(inputs, node.attributes);
    st.inputs = inputs;
    states[node.id] = st;
    vals[node.output] = st.out;
  }
  return CR.backwardPass(data, vals, states);
};

// The forward pass again from the node fed `override`, reusing `base`'s values before it: the output value and
// the states (for the kink state) of a perturbed run, without a backward pass (the numerical check's f(x ± h)).
CR.forwardFrom = function (data, base, override) {
  const vals = { ...base.vals }, states = { ...base.states };
  const start = data.nodes.findIndex((n) => n.id === override.node);
  for (const node of data.nodes.slice(start)) {
    const inputs = node.inputs.map((inp, i) => {
      if (override.node === node.id && override.index === i) return override.value;
      return inp.ref ? vals[inp.ref] : CR.scalar(inp.folded);
    });
    const st = CR.OPS[node.op].forward(inputs, node.attributes);
    st.inputs = inputs;
    states[node.id] = st;
    vals[node.output] = st.out;
  }
  return { vals, states };
};

CR.backwardPass = function (data, vals, states) {
  const grads = {}, steps = [];
  const out = data.output;
  grads[out] = CR.full(vals[out].shape, 1);
  const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n]));
  for (const step of data.backward) {
    const node = nodes[step.node], st = states[node.id], upstream = grads[node.output];
    const sent = CR.OPS[node.op].backward(st, upstream);
    const record = { node: node.id, upstream, sent: [] };
    node.inputs.forEach((inp, i) => {
      if (!inp.ref || data.values[inp.ref].role === "constant" || !sent[i]) return;
      grads[inp.ref] = grads[inp.ref] ? CR.binary(grads[inp.ref], sent[i], (a, b) => a + b) : sent[i];
      record.sent.push({ input: inp.ref, index: i, value: sent[i] });
    });
    steps.push(record);
  }
  return { vals, grads, steps, states };
};

// chainrule train's stop (training/trainer.py): why training must stop at a loss of `value` (smoothed: its running
// mean, 0.9 old + 0.1 new; first: the first loss; factor: Python's EXPLOSION_FACTOR), or null
CR.trainingStop = function (value, smoothed, first, factor) {
  if (!Number.isFinite(value)) return `the loss became ${CR.formatNumber(value)}`;
  if (smoothed > factor * Math.max(first, 0.1)) return `the loss exploded to ${CR.formatNumber(value)} (it started at ${CR.formatNumber(first)})`;
  return null;
};

// graph.record's and the backward pass's check (chainrule/nonfinite.py, graph._argument_names): the first node
// whose inputs are finite and whose forward value, or the gradients it sends back, are not, reported in Python's
// words ("Mul (×): forward gave inf from finite inputs apple = 1e+308, apple_num = 1e+308"); null when none
CR.pythonG = function (v, precision) {  // Python's f"{v:.6g}" (or another precision)
  const p = precision || 6;
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mantissa, e] = v.toExponential(p - 1).split("e"), exponent = parseInt(e, 10);
  const strip = (t) => (t.includes(".") ? t.replace(/\.?0+$/, "") : t);
  if (exponent < -4 || exponent >= p) return `${strip(mantissa)}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  return strip(v.toFixed(p - 1 - exponent));
};
CR.nonFiniteReport = function (data, r) {
  const finite = (t) => !t || t.data.every(Number.isFinite);
  const kinds = (t) => [[Number.isNaN, "NaN"], [(v) => v === Infinity, "inf"], [(v) => v === -Infinity, "-inf"]]
    .filter(([test]) => t.data.some(test)).map(([, word]) => word).join(" and ");
  const text = (t) => {
    if (t.data.length > 6) {
      let min = Infinity, max = -Infinity;
      for (const v of t.data) { min = Math.min(min, v); max = Math.max(max, v); }
      return `an array of shape (${t.shape.join(", ")}${t.shape.length === 1 ? "," : ""}) (min ${CR.pythonG(min, 4)}, max ${CR.pythonG(max, 4)})`;
    }
    const nested = (axis, offset) => {
      if (axis === t.shape.length) return CR.pythonG(t.data[offset]);
      const stride = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1), parts = [];
      for (let i = 0; i < t.shape[axis]; i++) parts.push(nested(axis + 1, offset + i * stride));
      return `[${parts.join(", ")}]`;
    };
    return nested(0, 0);
  };
  const names = (node) => {
    const given = new Set(node.inputs.map((inp) => (inp.ref && !data.values[inp.ref].auto_name ? data.values[inp.ref].name : null)));
    return node.inputs.map((inp, i) => {
      const v = inp.ref ? data.values[inp.ref] : null;
      if (!v || v.role === "constant") return { unnamed: "a constant" };
      if (!v.auto_name) return { name: v.name };
      if (data.nodes.some((n) => n.output === inp.ref)) return { unnamed: "computed by an earlier step" };
      return { name: given.has(inp.arg) ? `input ${i + 1}` : inp.arg };
    });
  };
  const described = (n, t) => (n.unnamed ? `${text(t)} (${n.unnamed})` : `${n.name} = ${text(t)}`);
  const nodes = Object.fromEntries(data.nodes.map((n) => [n.id, n]));
  for (const node of data.nodes) {
    const st = r.states[node.id];
    if (!finite(st.out) && st.inputs.every(finite))
      return `${node.op} (${node.symbol}): forward gave ${kinds(st.out)} from finite inputs ${names(node).map((n, i) => described(n, st.inputs[i])).join(", ")}`;
  }
  for (const step of r.steps) {
    const node = nodes[step.node], st = r.states[node.id], bad = step.sent.find((x) => !finite(x.value));
    if (bad && finite(step.upstream) && st.inputs.every(finite) && finite(st.out))
      return `${node.op} (${node.symbol}): backward gave ${kinds(bad.value)} from finite inputs ${[{ name: "dout" }, ...names(node)].map((n, i) => described(n, i ? st.inputs[i - 1] : step.upstream)).join(", ")}`;
  }
  return null;
};

// ---- a rule as an equation with the graph's numbers: chainrule/draw/rulemath.py, step for step --------------
CR.MAX_SIGNIFICANT = 17;
CR.NotAnEquation = class extends Error {};
const TOKEN = /\s+|\{\w+\}|Σ_rows|Σ_row|\d+(?:\.\d+)?|[A-Za-zσμγβ]\u0302?\w*|[×·∘/+−()[\]>ᵀ²^]/y;

CR.tokenize = function (template) {
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < template.length) {
    const at = TOKEN.lastIndex, m = TOKEN.exec(template);
    if (!m || m.index !== at) throw new CR.NotAnEquation(template);
    tokens.push(m[0]);
  }
  return tokens;
};

CR.parseRule = function (template) {
  const tokens = CR.tokenize(template);
  let at = 0;
  const skip = () => { while (at < tokens.length && /^\s+$/.test(tokens[at])) at++; };
  const peek = () => (at < tokens.length ? tokens[at] : null);
  const take = (expected) => {
    const t = peek();
    if (t === null || (expected !== undefined && t !== expected)) throw new CR.NotAnEquation(`expected ${expected} at ${t}`);
    at++; skip();
    return t;
  };
  const expression = () => {
    let node = term();
    while (peek() === "+" || peek() === "−") { const op = take(); node = [op, node, term()]; }
    return node;
  };
  const term = () => {
    let node = unary();
    while (["×", "·", "∘", "/"].includes(peek())) { const op = take(); node = [op, node, unary()]; }
    return node;
  };
  const unary = () => {
    if (peek() === "−") { take(); return ["neg", unary()]; }
    if (peek() === "Σ_rows") { take(); return ["rows", term()]; }
    return postfix();
  };
  const postfix = () => {
    let node = atom();
    while (["ᵀ", "²", "^"].includes(peek())) {
      const op = take();
      if (op === "ᵀ") node = ["T", node];
      else if (op === "²") node = ["pow", node, ["num", 2, null]];
      else { take("("); node = ["pow", node, expression()]; take(")"); }
    }
    return node;
  };
  const atom = () => {
    const token = peek(), index = at;
    if (token === null) throw new CR.NotAnEquation("unexpected end");
    if (token === "(") { take(); const node = expression(); take(")"); return ["paren", node]; }
    if (token === "[") {
      take(); const inner = expression(); take(">"); take("0"); take("]");
      return ["mask", inner, [index, at]];
    }
    if (token === "Σ_row") { take(); take("("); const node = expression(); take(")"); return ["rowsum", node]; }
    take();
    if (token[0] === "{") return ["field", token.slice(1, -1), index];
    if (/^\d/.test(token)) return ["num", parseFloat(token), index];
    if (/^[A-Za-zσμγβ]/.test(token)) return ["name", token, index];
    throw new CR.NotAnEquation(`unexpected ${token}`);
  };
  skip();
  const tree = expression();
  if (peek() !== null) throw new CR.NotAnEquation(`unexpected ${peek()}`);
  return { tokens, tree };
};

CR.swapLast = (a) => (a.shape.length < 2 ? a : CR.transpose(a, [...Array(a.shape.length - 2).keys(), a.shape.length - 1, a.shape.length - 2]));
// a sum over the first axis, row after row (the order rulemath's in_order sums use)
CR.sumRows = function (a) {
  const n = a.shape[0], rest = a.shape.slice(1), size = CR.size(rest), out = new Float64Array(size);
  for (let i = 0; i < n; i++) for (let k = 0; k < size; k++) out[k] = out[k] + a.data[i * size + k];
  return CR.tensor(rest, out);
};
CR.moveAxis = function (a, from, to) {
  const axes = [...Array(a.shape.length).keys()];
  axes.splice(from, 1);
  axes.splice(to, 0, from);
  return CR.transpose(a, axes);
};
CR.ruleMatmul = function (a, b) {
  if (a.shape.length === 0 || b.shape.length === 0) return CR.binary(a, b, (p, q) => p * q);
  if (a.shape.length > 2 || b.shape.length > 2) throw new CR.NotAnEquation("a batched matrix product is not written out");
  const A = a.shape.length === 1 ? CR.reshape(a, [1, -1]) : a, B = b.shape.length === 1 ? CR.reshape(b, [-1, 1]) : b;
  if (A.shape[1] !== B.shape[0]) throw new Error("matmul: shapes do not fit");
  const shape = [...(a.shape.length > 1 ? [A.shape[0]] : []), ...(b.shape.length > 1 ? [B.shape[1]] : [])];
  return CR.reshape(CR.matmul2(A, B), shape);
};

CR.evaluateRule = function (tree, env) {
  const [op] = tree;
  if (op === "num") return CR.scalar(tree[1]);
  if (op === "field" || op === "name") {
    if (!(tree[1] in env)) throw new CR.NotAnEquation(`no value for ${tree[1]}`);
    return env[tree[1]];
  }
  if (op === "paren") return CR.evaluateRule(tree[1], env);
  if (op === "neg") return CR.map(CR.evaluateRule(tree[1], env), (v) => -v);
  if (op === "T") return CR.swapLast(CR.evaluateRule(tree[1], env));
  if (op === "mask") return CR.map(CR.evaluateRule(tree[1], env), (v) => (v > 0 ? 1 : 0));
  if (op === "rows") { const a = CR.evaluateRule(tree[1], env); return a.shape.length ? CR.sumRows(a) : a; }
  if (op === "rowsum") {
    const a = CR.evaluateRule(tree[1], env);
    return a.shape.length ? CR.reshape(CR.sumRows(CR.moveAxis(a, a.shape.length - 1, 0)), [...a.shape.slice(0, -1), 1]) : a;
  }
  const a = CR.evaluateRule(tree[1], env), b = CR.evaluateRule(tree[2], env);
  if (op === "×" || op === "∘") return CR.binary(a, b, (p, q) => p * q);
  if (op === "/") return CR.binary(a, b, (p, q) => p / q);
  if (op === "+") return CR.binary(a, b, (p, q) => p + q);
  if (op === "−") return CR.binary(a, b, (p, q) => p - q);
  if (op === "·") return CR.ruleMatmul(a, b);
  if (op === "pow") return CR.binary(a, b, (p, q) => p ** q);
  throw new CR.NotAnEquation(op);
};

CR.ruleLeaves = function (tree, out) {
  if (tree[0] === "field" || tree[0] === "name" || tree[0] === "mask") out.push(tree);
  else for (const child of tree.slice(1)) if (Array.isArray(child) && typeof child[0] === "string") CR.ruleLeaves(child, out);
  return out;
};

CR.numberText = (v, sig) => { const t = CR.formatNumber(v, sig); return t.startsWith("-") ? `(${t})` : t; };
CR.shown = (a) => a.data.length <= CR.FULL_LIMIT;
CR.arrayText = function (a, sig, transposed) {
  if (a.shape.length === 0) return CR.numberText(a.data[0], sig);
  if (CR.shown(a)) return CR.formatValue(a, null, sig);
  return CR.shapeText(transposed && a.shape.length >= 2 ? a.shape.slice().reverse() : a.shape);
};
// (inf and NaN stay themselves: parseFloat reads "inf" as NaN, which made "inf × 0.5 = inf" an "≈" on the page)
CR.rounded = (a, sig) => CR.map(a, (v) => (Number.isFinite(v) ? parseFloat(CR.formatNumber(v, sig)) : v));

CR.renderNumeric = function (tokens, tree, env, sig, symbols) {
  const replace = {};
  for (const leaf of CR.ruleLeaves(tree, [])) {
    if (leaf[0] === "mask") {
      const [start, end] = leaf[2], mask = CR.evaluateRule(leaf, env);
      if (CR.shown(mask)) replace[start] = [end, CR.arrayText(mask, sig, false)];
      else {
        const inner = tokens.slice(start + 1, end - 1).map((t) => (t.startsWith("{") ? (symbols[t.slice(1, -1)] ?? t.slice(1, -1)) : t)).join("");
        replace[start] = [end, "[" + inner.trim() + "]"];
      }
      continue;
    }
    const index = leaf[2], a = env[leaf[1]];
    const transposed = index + 1 < tokens.length && tokens[index + 1] === "ᵀ";
    const drop = transposed && (a.shape.length === 0 || (!CR.shown(a) && a.shape.length >= 2));
    replace[index] = [drop ? index + 2 : index + 1, CR.arrayText(a, sig, transposed)];
  }
  const out = [];
  for (let i = 0; i < tokens.length;) {
    if (i in replace) { out.push(replace[i][1]); i = replace[i][0]; } else out.push(tokens[i++]);
  }
  return out.join("");
};

const sameShape = (a, b) => a.length === b.length && a.every((n, i) => n === b[i]);
CR.reshapedLike = (r, g) => (sameShape(r.shape, g.shape) ? r : r.data.length === g.data.length ? CR.reshape(r, g.shape) : null);

CR.ruleWrapper = function (resultShape, targetShape) {
  if (sameShape(resultShape, targetShape)) return null;
  if (CR.size(resultShape) === CR.size(targetShape)) {
    const squeeze = (s) => s.filter((n) => n !== 1);
    return sameShape(squeeze(resultShape), squeeze(targetShape)) ? null : ["reshape", targetShape];
  }
  return ["sum", targetShape];
};
CR.wrapText = function (text, wrap, resultShape) {
  if (!wrap) return text;
  const [kind, shape] = wrap;
  if (kind === "reshape") return `(${text}) reshaped to ${CR.shapeText(shape)}`;
  if (shape.length === 0 || (CR.size(shape) === 1 && shape.length <= 1)) return `Σ (${text})`;
  if (resultShape.length === shape.length + 1 && sameShape(resultShape.slice(1), shape)) return `Σ_rows (${text})`;
  return `sum to ${CR.shapeText(shape)} of (${text})`;
};
CR.wrapNote = function (wrap, resultShape) {
  if (!wrap) return null;
  const [kind, shape] = wrap, r = CR.shapeText(resultShape), t = CR.shapeText(shape);
  if (kind === "reshape") return `the rule computes the matrix ${r}, reshaped back to the input's shape ${t}`;
  return `the broadcast rule: the input was broadcast to ${r}, so its gradient is summed over the copies, ${r} → ${t}`;
};
CR.applyWrap = function (r, wrap) {
  if (!wrap) return r;
  const [kind, shape] = wrap;
  if (kind === "reshape") return CR.reshape(r, shape);
  while (r.shape.length > shape.length) r = CR.sumRows(r);
  shape.forEach((n, axis) => {
    if (n === 1 && r.shape[axis] !== 1) {
      const s = CR.sumRows(CR.moveAxis(r, axis, 0));
      r = CR.moveAxis(CR.reshape(s, [1, ...s.shape]), 0, axis);
    }
  });
  if (CR.size(r.shape) !== CR.size(shape)) throw new Error("the gradient does not fit its input");
  return CR.reshape(r, shape);
};
CR.close = function (a, b) {
  let scale = 1;
  for (const v of b.data) scale = Math.max(scale, Math.abs(v));
  return a.data.length === b.data.length && a.data.every((v, i) => {
    const w = b.data[i];
    if (Number.isNaN(v) || Number.isNaN(w)) return Number.isNaN(v) && Number.isNaN(w);
    return v === w || Math.abs(v - w) <= 1e-12 * scale + 1e-7 * Math.abs(w);
  });
};
CR.templateWords = (template, symbols) => template.replace(/\{(\w+)\}/g, (all, key) => symbols[key] ?? key);

// the rule for one gradient: {symbolic, numeric?, relation?, note?} (rulemath.equation)
CR.equation = function (template, env, g, symbols) {
  let parsed, exact;
  try {
    parsed = CR.parseRule(template);
    exact = CR.evaluateRule(parsed.tree, env);
  } catch (e) {  // words, or operands the rule cannot combine here (rulemath: NotAnEquation, ValueError)
    return { symbolic: CR.templateWords(template, symbols) };
  }
  const wrap = CR.ruleWrapper(exact.shape, g.shape);
  let checked = null;
  try { checked = CR.reshapedLike(CR.applyWrap(exact, wrap), g); } catch (e) { checked = null; }
  const entry = { symbolic: CR.wrapText(CR.templateWords(template, symbols), wrap, exact.shape) };
  if (checked === null || !CR.close(checked, g)) return entry;
  const target = CR.formatValue(g), leaves = CR.ruleLeaves(parsed.tree, []);
  const digits = leaves.every((leaf) => CR.shown(leaf[0] === "mask" ? CR.evaluateRule(leaf, env) : env[leaf[1]]));
  let relation = "=", sig = CR.SIGNIFICANT;
  if (digits) {
    relation = "≈";
    for (let p = CR.SIGNIFICANT; p <= CR.MAX_SIGNIFICANT; p++) {
      const shown = {};
      for (const [k, a] of Object.entries(env)) shown[k] = CR.rounded(a, p);
      let r = null;
      try { r = CR.reshapedLike(CR.applyWrap(CR.evaluateRule(parsed.tree, shown), wrap), g); } catch (e) { r = null; }
      if (r !== null && CR.formatValue(r) === target) { relation = "="; sig = p; break; }
    }
  }
  entry.numeric = CR.wrapText(CR.renderNumeric(parsed.tokens, parsed.tree, env, sig, symbols), wrap, exact.shape);
  entry.relation = relation;
  const note = CR.wrapNote(wrap, exact.shape);
  if (note) entry.note = note;
  return entry;
};

// the branch rule written out: terms at as many digits as it takes to add up to the total shown
CR.sumEquation = function (terms, total) {
  const target = CR.formatValue(total);
  if (terms.every(CR.shown)) {
    for (let p = CR.SIGNIFICANT; p <= CR.MAX_SIGNIFICANT; p++) {
      const shown = terms.map((t) => CR.rounded(t, p));
      let sum = CR.binary(CR.scalar(0), shown[0], (a, b) => a + b);
      for (const t of shown.slice(1)) sum = CR.binary(sum, t, (a, b) => a + b);
      const r = CR.reshapedLike(sum, total);
      if (r && CR.formatValue(r) === target) return { texts: terms.map((t) => CR.arrayText(t, p)), relation: "=" };
    }
    return { texts: terms.map((t) => CR.arrayText(t)), relation: "≈" };
  }
  return { texts: terms.map((t) => (CR.shown(t) ? CR.arrayText(t) : CR.formatValue(t))), relation: "=" };
};

CR.localFormula = function (template) {
  const forms = [["{dout} × ", (r) => r], ["−{dout} × ", (r) => `−(${r})`], ["{dout} / ", (r) => `1 / ${r}`]];
  for (const [prefix, wrap] of forms) if (template.startsWith(prefix)) return wrap(template.slice(prefix.length));
  return { "{dout}": "1", "−{dout}": "−1" }[template] ?? null;
};

// the numbers behind a rule's bare names (Layer.rule_values)
CR.ruleValues = function (node, st) {
  if (node.op === "Pow") return { p: CR.scalar(st.p) };
  if (node.op === "MeanSquaredError") return { N: CR.scalar(st.n) };
  if (node.op === "SoftmaxWithLoss") {
    const t = new Float64Array(st.n * st.c);
    for (let i = 0; i < st.n; i++) for (let j = 0; j < st.c; j++) t[i * st.c + j] = st.onehot ? st.t.data[i * st.c + j] : (st.t.data[i] === j ? 1 : 0);
    return { y: CR.reshape(st.y, st.x.shape), t: CR.tensor(st.x.shape, t), N: CR.scalar(st.n) };
  }
  return {};
};

// (env, symbols) of a node's rules, as graphdata.rule_operands builds them
CR.operands = function (data, node, state, upstream, vals) {
  const env = { dout: upstream }, symbols = { dout: "dout" };
  const named = node.inputs.map((inp, i) => ({
    arg: inp.arg, name: inp.ref ? data.values[inp.ref].name : CR.numberText(inp.folded),
    value: (state.inputs && state.inputs[i]) || (inp.ref ? vals[inp.ref] : CR.scalar(inp.folded)) }));
  [["x", 0], ["y", 1]].forEach(([key, position]) => {
    if (position < node.n_inputs && position < named.length) { symbols[key] = named[position].name; env[key] = named[position].value; }
  });
  for (const n of named) if (!(n.arg in symbols)) { symbols[n.arg] = n.name; env[n.arg] = n.value; }
  symbols.out = node.output ? data.values[node.output].name : "out";
  env.out = state.out;
  for (const [k, text] of Object.entries(node.fields)) { symbols[k] = String(text); delete env[k]; }
  Object.assign(env, CR.ruleValues(node, state));
  for (const [k, shape] of Object.entries(node.matrix_shapes || {})) if (env[k]) env[k] = CR.reshape(env[k], shape);
  return { env, symbols };
};

// the texts of one backward step, as graphdata writes them
CR.stepTexts = function (data, node, state, upstream, vals, sent) {
  const { env, symbols } = CR.operands(data, node, state, upstream, vals);
  return sent.map((x) => {
    const template = node.rules[String(x.index)], entry = { input: x.input, label: CR.formatValue(x.value) };
    if (template === undefined) return entry;
    Object.assign(entry, CR.equation(template, env, x.value, symbols));
    const local = CR.localFormula(template);
    if (local !== null) {
      entry.local = CR.templateWords(local, symbols);
      if (CR.isScalar(upstream) && CR.isScalar(x.value) && upstream.data[0] !== 0)
        entry.local_value = CR.formatNumber(x.value.data[0] / upstream.data[0]);
    }
    return entry;
  });
};

// ---- the numerical check of one node (chainrule/gradcheck.py's rules) -------------------------------------
// Which side of each kink a computation is on: ReLU's mask, max pooling's winners (Layer.kink_state).
CR.kinkState = function (result) {
  const parts = [];
  for (const [id, st] of Object.entries(result.states)) {
    if (st.arg) parts.push(id + ":" + Array.from(st.arg).join(","));
    else if (st.reluMask) parts.push(id + ":" + st.reluMask);
  }
  return parts.join("|");
};
CR.CHECK_ENTRIES = 24;      // at most this many entries of an input are differentiated, chosen at random
CR.CHECK_STEPS = [1e-4, 1e-6, 1e-8];  // h, then h/100 and h/10⁴ where ±h crosses a kink
CR.CHECK_RTOL = 1e-5;
CR.CHECK_ATOL = 1e-7;

// A small seeded generator (mulberry32): the same entries are sampled on every run.
CR.random = function (seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};
CR.sampleEntries = function (n, limit, seed) {
  if (n <= limit) return [...Array(n).keys()];
  const rand = CR.random(seed), chosen = new Set();
  while (chosen.size < limit) chosen.add(Math.floor(rand() * n));
  return [...chosen].sort((p, q) => p - q);
};

// Backprop's gradient of each input of `nodeId` against central differences of the output, each input fed
// to that node perturbed by ±h while the rest of the graph runs as recorded. Entries where ±h (and the
// smaller steps) moves the computation across a kink are skipped and counted, as gradient_check does.
CR.numericalCheck = function (data, leaves, nodeId) {
  const base = CR.compute(data, leaves);
  const baseKinks = CR.kinkState(base);
  const step = base.steps.find((s) => s.node === nodeId);
  const node = data.nodes.find((n) => n.id === nodeId);
  const results = [];
  node.inputs.forEach((inp, i) => {
    if (!inp.ref || data.values[inp.ref].role === "constant") return;
    const sent = step && step.sent.find((s) => s.index === i);
    if (!sent) return;
    const x = base.states[nodeId].inputs[i], n = x.data.length;
    const entries = CR.sampleEntries(n, CR.CHECK_ENTRIES, 12345 + i);
    let worst = 0, worstRel = 0, kinks = 0, compared = 0, ok = true;
    const pairs = [];
    for (const k of entries) {
      let numeric = null;
      for (const h of CR.CHECK_STEPS) {
        const plus = CR.copy(x), minus = CR.copy(x);
        plus.data[k] += h; minus.data[k] -= h;
        const rp = CR.forwardFrom(data, base, { node: nodeId, index: i, value: plus });
        if (CR.kinkState(rp) !== baseKinks) continue;
        const rm = CR.forwardFrom(data, base, { node: nodeId, index: i, value: minus });
        if (CR.kinkState(rm) !== baseKinks) continue;
        numeric = (rp.vals[data.output].data[0] - rm.vals[data.output].data[0]) / (2 * h);
        break;
      }
      if (numeric === null) { kinks++; continue; }
      const a = sent.value.data[k], d = Math.abs(a - numeric);
      compared++;
      pairs.push([k, a, numeric]);
      if (!(d <= CR.CHECK_ATOL + CR.CHECK_RTOL * Math.abs(numeric))) ok = false;
      worst = Math.max(worst, d);
      worstRel = Math.max(worstRel, d / Math.max(Math.abs(a) + Math.abs(numeric), 1e-12));
    }
    results.push({ input: inp.ref, index: i, size: n, sampled: entries.length, compared, kinks, worst, worstRel,
                   ok: ok && compared > 0, pairs });
  });
  return results;
};

// One line per input, in the words of gradient_check's report.
CR.checkLine = function (name, r) {
  const what = r.sampled < r.size ? `${r.sampled} random entries of ${r.size}` : `${r.size} entr${r.size === 1 ? "y" : "ies"}`;
  const skipped = r.kinks ? `, ${r.kinks} at a kink (±h switches a ReLU or a max-pooling winner), skipped` : "";
  if (!r.compared) return `${name}: every checked entry sits at a kink: nothing to compare (${what}${skipped})`;
  return `${name}: max |backprop − numerical| = ${r.worst.toExponential(1)} over ${r.compared} compared of ${what}${skipped} ${r.ok ? "✓" : "✗"}`;
};

if (typeof module !== "undefined") module.exports = CR;
