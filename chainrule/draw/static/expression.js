// A graph from a typed expression, in the page: the grammar of chainrule/expression.py (``chainrule graph
// "EXPR"``), the recording of chainrule/graph.py and the description of chainrule/draw/graphdata.py, so that the
// page builds, for the same text and values, the same graph JSON as Python (tests/test_expression_page.py
// compares them on hundreds of expressions). The ops' symbols and rules come from the page's catalogue
// (graphdata.page_catalogue, read off the layer classes): no rule is written here.
"use strict";
if (typeof module !== "undefined") require("./layout.js");

(function (CR) {
  CR.ExpressionError = class extends Error {};
  const fail = (message) => { throw new CR.ExpressionError(message); };
  CR.FUNCTIONS = ["exp", "log", "relu", "sigmoid", "tanh", "softmax", "sum", "mean"];
  CR.MAX_EXPRESSION_LENGTH = 2000;
  CR.MAX_EXPRESSION_PARTS = 500;

  // ---- reading the text: the subset of Python's expression grammar that chainrule accepts --------------------
  const TOKENS = /\s+|(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)|([A-Za-z_\u00C0-\uFFFF][\w\u00C0-\uFFFF]*)|(\*\*|\/\/|[-+*/@%().,=[\]{}<>!~^&|:;'"`?#$\\])/y;

  CR.tokenizeExpression = function (text) {
    const tokens = [];
    TOKENS.lastIndex = 0;
    while (TOKENS.lastIndex < text.length) {
      const at = TOKENS.lastIndex, m = TOKENS.exec(text);
      if (!m || m.index !== at) fail(`cannot read ${JSON.stringify(text)}: unexpected ${JSON.stringify(text[at])} (at character ${at + 1})`);
      if (m[1] !== undefined) tokens.push({ kind: "number", text: m[1], at });
      else if (m[2] !== undefined) tokens.push({ kind: "name", text: m[2], at });
      else if (m[3] !== undefined) tokens.push({ kind: "op", text: m[3], at });
    }
    return tokens;
  };

  const KEYWORDS = new Set(["and", "or", "not", "if", "else", "lambda", "in", "is", "for", "None", "True", "False", "await", "yield"]);

  // Python's precedence: + − < * / @ // % < unary + − < ** (right-assoc; binds its left operand tighter than a
  // unary minus) < calls, attributes.  Nodes: {type: "BinOp"|"UnaryOp"|"Call"|"Attribute"|"Name"|"Constant"}.
  CR.parseExpression = function (text) {
    if (text.length > CR.MAX_EXPRESSION_LENGTH) fail(`the expression is ${text.length} characters long; at most ${CR.MAX_EXPRESSION_LENGTH}`);
    const tokens = CR.tokenizeExpression(text.trim());
    let at = 0, parts = 0;
    const peek = () => tokens[at];
    const isOp = (t, ...ops) => t && t.kind === "op" && ops.includes(t.text);
    const syntax = (t) => fail(`cannot read ${JSON.stringify(text.trim())}: invalid syntax${t ? ` at ${JSON.stringify(t.text)}` : " (it ends too early)"}`);
    const node = (n) => { parts++; return n; };
    function expect(op) { if (!isOp(peek(), op)) syntax(peek()); at++; }
    function sum() {
      let left = product();
      while (isOp(peek(), "+", "-")) { const op = tokens[at++].text; left = node({ type: "BinOp", op, left, right: product() }); }
      return left;
    }
    function product() {
      let left = unary();
      while (isOp(peek(), "*", "/", "@", "//", "%")) { const op = tokens[at++].text; left = node({ type: "BinOp", op, left, right: unary() }); }
      return left;
    }
    function unary() {
      if (isOp(peek(), "-", "+", "~")) { const op = tokens[at++].text; return node({ type: "UnaryOp", op, operand: unary() }); }
      return power();
    }
    function power() {
      const base = postfix();
      if (isOp(peek(), "**")) { at++; return node({ type: "BinOp", op: "**", left: base, right: unary() }); }
      return base;
    }
    function postfix() {
      let value = atom();
      for (;;) {
        if (isOp(peek(), "(")) {
          at++;
          const args = [], keywords = [];
          while (!isOp(peek(), ")")) {
            if (peek() && peek().kind === "name" && isOp(tokens[at + 1], "=")) {
              const arg = tokens[at].text; at += 2;
              keywords.push({ arg, value: sum() });
            } else {
              if (keywords.length) syntax(peek());
              args.push(sum());
            }
            if (isOp(peek(), ",")) at++; else if (!isOp(peek(), ")")) syntax(peek());
          }
          at++;
          value = node({ type: "Call", func: value, args, keywords });
        } else if (isOp(peek(), ".")) {
          at++;
          const t = peek();
          if (!t || t.kind !== "name") syntax(t);
          at++;
          value = node({ type: "Attribute", value, attr: t.text });
        } else if (isOp(peek(), "[")) {
          fail(`${JSON.stringify(text.trim())}: indexing is not allowed here: use names, numbers, + - * / @ **, and ${CR.FUNCTIONS.join(", ")}`);
        } else return value;
      }
    }
    function atom() {
      const t = peek();
      if (!t) syntax(t);
      at++;
      if (t.kind === "number") {
        if (/[jJ]$/.test(t.text)) fail(`${t.text} is not a real number`);
        const value = CR.pythonNumber(t.text, syntax, t);
        if (value === Infinity) fail(`${t.text} is too large for a floating-point number (the largest is about ${CR.formatNumber(Number.MAX_VALUE, 3)})`);
        return node({ type: "Constant", value, float: /[.eEjJ]/.test(t.text) && !/^0[xXoObB]/.test(t.text) });
      }
      if (t.kind === "name") {
        if (KEYWORDS.has(t.text)) fail(`${JSON.stringify(text.trim())}: ${t.text} is not allowed here: use names, numbers, + - * / @ **, and ${CR.FUNCTIONS.join(", ")}`);
        return node({ type: "Name", id: t.text });
      }
      if (isOp(t, "(")) {
        const inner = sum();
        if (isOp(peek(), ",")) fail(`${JSON.stringify(text.trim())}: a tuple is not allowed here`);
        expect(")");
        return inner;
      }
      return syntax(t);
    }
    if (!tokens.length) syntax(null);
    const tree = sum();
    if (at < tokens.length) syntax(peek());
    if (parts + tokens.length > CR.MAX_EXPRESSION_PARTS) fail(`the expression has more than ${CR.MAX_EXPRESSION_PARTS} parts`);
    return tree;
  };

  // A Python number literal: ints (also 0x 0o 0b, with _), floats
  CR.pythonNumber = function (text, syntax, token) {
    const clean = text.replace(/_/g, "");
    if (/__|_$|^_|_\.|\._|_[eE]|[eE]_/.test(text)) syntax(token);
    if (/^0[xX]/.test(clean)) return parseInt(clean.slice(2), 16);
    if (/^0[oO]/.test(clean)) return parseInt(clean.slice(2), 8);
    if (/^0[bB]/.test(clean)) return parseInt(clean.slice(2), 2);
    if (/^0\d/.test(clean) && !/[.eE]/.test(clean) && /[1-9]/.test(clean)) syntax(token);  // 012 is not Python
    return Number(clean);
  };

  // Python's f"{p:g}": 6 significant digits, an exponent below 1e-4 or from 1e6
  CR.formatG = function (p) {
    if (Number.isInteger(p) && Math.abs(p) < 1e16 && !Object.is(p, -0)) {
      if (Math.abs(p) < 1e6) return String(p);
    }
    if (p === 0) return Object.is(p, -0) ? "-0" : "0";
    const exponent = Math.floor(Math.log10(Math.abs(Number(p.toPrecision(6)))));
    if (exponent < -4 || exponent >= 6) {
      const [m, e] = p.toExponential(5).split("e");
      const mant = m.includes(".") ? m.replace(/0+$/, "").replace(/\.$/, "") : m;
      const n = parseInt(e, 10);
      return `${mant}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
    }
    const fixed = p.toFixed(Math.max(0, 5 - exponent));
    return fixed.includes(".") ? fixed.replace(/0+$/, "").replace(/\.$/, "") : fixed;
  };

  // ---- recording a graph: Variables, nodes in the order forward made them (chainrule/graph.py) ---------------
  let sequence = 0;
  class Var {
    constructor(data, name) { this.data = data; this.name = name || null; this.creator = null; this.generation = 0; }
  }
  CR.Var = Var;
  const isVar = (a) => a instanceof Var;
  const valueOf = (a) => (isVar(a) ? a.data : typeof a === "number" ? CR.scalar(a) : a);

  // The checks the layers make in forward (their messages, from chainrule/layers), for what the page recomputes.
  const shapeText = (s) => "(" + s.join(", ") + (s.length === 1 ? ",)" : ")");
  const CHECKS = {
    binary: (op, [x, y]) => {
      try { CR.broadcastShapes(x.shape, y.shape); } catch (e) {
        fail(`${op}: cannot broadcast x of shape ${shapeText(x.shape)} with y of shape ${shapeText(y.shape)}; expected equal shapes or shapes that broadcast (e.g. (N, M) with (M,))`);
      }
    },
    Log: ([x]) => {
      const negative = x.data.filter((v) => v < 0).length;
      if (negative) fail(`Log: input of shape ${shapeText(x.shape)} has ${negative} negative value(s); log is only defined for x ≥ 0 (0 gives −inf)`);
    },
    Softmax: ([x]) => {
      if (x.shape.length === 0) fail("Softmax: got a scalar; expected a vector (C,) or a batch of rows (N, C)");
      if (x.shape[x.shape.length - 1] === 0) fail(`Softmax: x has shape ${shapeText(x.shape)}: rows of 0 values have no softmax`);
    },
    MatMul: ([a, b]) => {
      if (a.shape.length === 0 || b.shape.length === 0) fail(`MatMul: got shapes ${shapeText(a.shape)} and ${shapeText(b.shape)}; matmul needs arrays with ≥ 1 dimension (use * for a scalar)`);
      if (a.shape.length > 2 || b.shape.length > 2) fail(`MatMul: the page multiplies vectors and matrices (1-D and 2-D arrays); got shapes ${shapeText(a.shape)} and ${shapeText(b.shape)}`);
      const inner = b.shape[b.shape.length === 1 ? 0 : b.shape.length - 2];
      if (a.shape[a.shape.length - 1] !== inner) fail(`MatMul: A has shape ${shapeText(a.shape)} and B has shape ${shapeText(b.shape)}: A has ${a.shape[a.shape.length - 1]} columns but B has ${inner} rows; expected them equal`);
    },
    reduce: (op, [x], a) => {
      const n = x.shape.length;
      for (const axis of a.axis || []) if (!(axis >= -n && axis < n)) fail(`${op}: axis ${axis} is out of range for x of shape ${shapeText(x.shape)}`);
      if (op === "Mean") {
        const axes = a.axis === null ? [...Array(n).keys()] : a.axis.map((v) => (v + n) % n);
        if (axes.some((i) => x.shape[i] === 0)) fail(`Mean: x has shape ${shapeText(x.shape)}: the mean over axis ${a.axis} averages 0 elements`);
      }
    },
  };

  // Calling a layer: a node when an input is a Var (graph.record), else the plain forward value (a number).
  function call(op, inputs, attributes, catalogue) {
    const values = inputs.map(valueOf);
    if (["Mul", "Add", "Sub", "Div"].includes(op)) CHECKS.binary(op, values);
    else if (op === "Sum" || op === "Mean") CHECKS.reduce(op, values, attributes);
    else if (CHECKS[op]) CHECKS[op](values);
    const state = CR.OPS[op].forward(values, attributes || {});
    if (!inputs.some(isVar)) {  // constants alone fold into a number, as the layers' forward returns one
      const v = state.out.data[0];
      if (state.out.data.length !== 1) fail(`${op} of constants gives an array; write it with a name`);
      return v;
    }
    const generation = Math.max(...inputs.filter(isVar).map((a) => a.generation));
    const nodeRecord = { op, args: inputs, n_inputs: inputs.length, attributes: attributes || {}, generation, seq: sequence++, state, meta: catalogue[op] };
    state.inputs = values;
    const out = new Var(state.out);
    out.creator = nodeRecord;
    out.generation = generation + 1;
    nodeRecord.output = out;
    return out;
  }

  // Python's repr of a float: the shortest digits that read back, positional from 1e-4 to below 1e16
  const pythonFloat = (v) => {
    if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
    const [mantissa, e] = v.toExponential().split("e");
    const exponent = parseInt(e, 10);
    if (exponent < -4 || exponent >= 16) return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
    const text = Math.abs(v) < 1 ? v.toFixed(-exponent + mantissa.replace(/[-.]/g, "").length - 1) : String(v);
    return text.includes(".") ? text : `${text}.0`;
  };
  // ast.unparse, for messages: the same text as `chainrule graph` shows, parentheses where the operators'
  // precedence needs them (Python's _Precedence: + - < * / @ < unary - < ** < calls and attributes)
  const PRECEDENCE = { TEST: 0, ARITH: 1, TERM: 2, FACTOR: 3, POWER: 4, AWAIT: 5, ATOM: 6 };
  const pythonOf = (node, required = PRECEDENCE.TEST) => {
    const wrap = (own, text) => (required > own ? `(${text})` : text);
    switch (node.type) {
      case "Name": return node.id;
      case "Constant": return node.float ? pythonFloat(node.value) : String(node.value);
      case "Attribute": {
        const spaced = node.value.type === "Constant" && !node.value.float ? " " : "";
        return `${pythonOf(node.value, PRECEDENCE.ATOM)}${spaced}.${node.attr}`;
      }
      case "UnaryOp": return wrap(PRECEDENCE.FACTOR, `${node.op}${pythonOf(node.operand, PRECEDENCE.FACTOR)}`);
      case "BinOp": {
        const own = node.op === "**" ? PRECEDENCE.POWER : node.op === "+" || node.op === "-" ? PRECEDENCE.ARITH : PRECEDENCE.TERM;
        const [left, right] = node.op === "**" ? [own + 1, own] : [own, own + 1];
        return wrap(own, `${pythonOf(node.left, left)} ${node.op} ${pythonOf(node.right, right)}`);
      }
      case "Call": return `${pythonOf(node.func, PRECEDENCE.ATOM)}(${[...node.args.map((a) => pythonOf(a)), ...node.keywords.map((k) => `${k.arg}=${pythonOf(k.value)}`)].join(", ")})`;
      default: return "?";
    }
  };
  CR.unparse = (text) => pythonOf(CR.parseExpression(text));

  function numberOf(node) {
    if (node.type === "Constant") {
      if (!Number.isFinite(node.value)) fail(`${node.value} is not a finite number`);
      return node.value;
    }
    if (node.type === "UnaryOp" && node.op === "-") return -numberOf(node.operand);
    return fail(`expected a number, got ${JSON.stringify(pythonOf(node))}`);
  }

  function walk(node, visit) {
    visit(node);
    for (const child of [node.left, node.right, node.operand, node.value, node.func, ...(node.args || []), ...(node.keywords || []).map((k) => k.value)])
      if (child && typeof child === "object" && child.type) walk(child, visit);
  }

  // ``build(text, values)`` of chainrule/expression.py: the output Var, or a CR.ExpressionError with the reason.
  CR.buildExpression = function (text, values, catalogue) {
    const tree = CR.parseExpression(text);
    const called = new Set(), names = new Set();
    walk(tree, (n) => { if (n.type === "Call") called.add(n.func); });
    walk(tree, (n) => {
      if (n.type === "Name" && called.has(n) && !CR.FUNCTIONS.includes(n.id)) fail(`${JSON.stringify(n.id)} is not one of the functions ${CR.FUNCTIONS.join(", ")}`);
    });
    walk(tree, (n) => { if (n.type === "Name" && !CR.FUNCTIONS.includes(n.id)) names.add(n.id); });
    const sorted = [...names].sort();
    if (names.has("dout")) fail("dout is the name the explanations give a node's upstream gradient (book §5.2: dx = dout × …); call this value something else");
    const missing = sorted.filter((n) => !(n in values));
    if (missing.length) fail(`no value for ${missing.join(", ")}: give one with --set ${missing.map((n) => n + "=…").join(" ")}`);
    const unused = Object.keys(values).filter((n) => !names.has(n)).sort();
    if (unused.length) fail(`--set ${unused.join(", ")}: not in the expression`);
    const variables = Object.fromEntries(sorted.map((n) => [n, new Var(values[n], n)]));
    sequence = 0;
    const source = text.trim();
    // expression._fold: a part made of constants alone is a finite number, or refused in Python's words
    const folded = (node, op, operands, v) => {
      if (Number.isFinite(v)) return v;
      let why = "";
      if ((op === "Div" && operands[1] === 0) || (op === "Pow" && operands[0] === 0 && operands[1] < 0)) why = ", a division by zero";
      else if (op === "Pow" && Number.isNaN(v)) why = ", not a real number (a negative number to a fractional power)";
      else if (!Number.isNaN(v) && op !== "Log") why = `, beyond floating point (the largest number is about ${CR.formatNumber(Number.MAX_VALUE, 3)})`;
      const shown = Number.isNaN(v) ? "NaN" : v > 0 ? "inf" : "-inf";
      return fail(`a constant part of ${JSON.stringify(source)} cannot be computed: ${pythonOf(node)} gives ${shown}${why}`);
    };
    const apply = (node, op, inputs, attributes) => {
      const out = call(op, inputs, attributes, catalogue);
      return isVar(out) ? out : folded(node, op, inputs, out);
    };
    const build = (node) => {
      if (node.type === "Name") {
        if (CR.FUNCTIONS.includes(node.id)) fail(`${node.id} is a function: call it, e.g. ${node.id}(x)`);
        return variables[node.id];
      }
      if (node.type === "Constant") return numberOf(node);
      if (node.type === "BinOp") {
        const left = build(node.left);
        if (node.op === "**") {
          let p;
          try {
            p = numberOf(node.right);
          } catch (e) {
            if (!(e instanceof CR.ExpressionError)) throw e;
            fail(`the exponent in ${JSON.stringify(pythonOf(node))} must be a number, such as x**2 or x**-0.5; for a power whose exponent varies, write exp(y * log(x))`);
          }
          if (isVar(left)) return call("Pow", [left], { p }, catalogue);
          return folded(node, "Pow", [left, p], left ** p);
        }
        const op = { "+": "Add", "-": "Sub", "*": "Mul", "/": "Div", "@": "MatMul" }[node.op];
        if (!op) fail(`the operator in ${JSON.stringify(pythonOf(node))} is not one of + - * / @ **`);
        return apply(node, op, [left, build(node.right)], {});
      }
      if (node.type === "UnaryOp") {
        if (node.op === "+") return build(node.operand);
        if (node.op === "-") {
          const operand = build(node.operand);
          return isVar(operand) ? call("Neg", [operand], {}, catalogue) : -operand;
        }
      }
      if (node.type === "Attribute" && node.attr === "T") {
        const value = build(node.value);
        return isVar(value) ? call("Transpose", [value], { axes: null }, catalogue) : value;
      }
      if (node.type === "Call") {
        let name, operand, args;
        if (node.func.type === "Name" && CR.FUNCTIONS.includes(node.func.id)) {
          if (!node.args.length) fail(`${JSON.stringify(pythonOf(node))}: ${node.func.id} takes one argument, e.g. ${node.func.id}(x)`);
          [name, operand, args] = [node.func.id, node.args[0], node.args];
        } else if (node.func.type === "Attribute" && CR.FUNCTIONS.includes(node.func.attr)) {
          [name, operand, args] = [node.func.attr, node.func.value, [node.func, ...node.args]];
        } else fail(`${JSON.stringify(pythonOf(node.func))} is not one of the functions ${CR.FUNCTIONS.join(", ")}`);
        const value = build(operand);
        if (name === "sum" || name === "mean") {
          if (args.length > 1) fail(`${JSON.stringify(pythonOf(node))}: give the axis as axis=N`);
          let axis = null;
          for (const kw of node.keywords) {
            if (kw.arg !== "axis") fail(`${JSON.stringify(pythonOf(node))}: the only option is axis=N`);
            axis = Math.trunc(numberOf(kw.value));
          }
          return apply(node, name === "sum" ? "Sum" : "Mean", [value], { axis: axis === null ? null : [axis], keepdims: false });
        }
        if (node.keywords.length || args.length > 1) fail(`${JSON.stringify(pythonOf(node))}: ${name} takes one argument`);
        const op = { exp: "Exp", log: "Log", relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", softmax: "Softmax" }[name];
        return apply(node, op, [value], {});
      }
      return fail(`${JSON.stringify(pythonOf(node))} is not allowed here: use names, numbers, + - * / @ **, and ${CR.FUNCTIONS.join(", ")}`);
    };
    return build(tree);
  };

  // What `chainrule graph "EXPR"` refuses besides the grammar: nothing computed, or not one number.
  CR.expressionOutput = function (text, values, catalogue) {
    const out = CR.buildExpression(text, values, catalogue);
    if (!isVar(out) || !out.creator) fail(`${JSON.stringify(text)} computes nothing from its names; use at least one name and an operation`);
    if (out.data.data.length !== 1) fail(`${JSON.stringify(text)} gives an array of shape ${shapeText(out.data.shape)}; backward starts from one number: wrap it in sum(...), e.g. "sum(${text})"`);
    out.name = out.name || CR.outputName(Object.keys(values));
    return out;
  };

  // expression.output_name: "out", or the first of out1, out2, … that no input holds
  CR.outputName = function (names) {
    if (!names.includes("out")) return "out";
    for (let k = 1; ; k++) if (!names.includes(`out${k}`)) return `out${k}`;
  };

  // ---- the graph as data (graphdata.describe), from a recorded output ---------------------------------------
  function nodesOf(output) {
    const found = [], seen = new Set(), stack = output.creator ? [output.creator] : [];
    while (stack.length) {
      const n = stack.pop();
      if (seen.has(n)) continue;
      seen.add(n);
      found.push(n);
      for (const a of n.args) if (isVar(a) && a.creator) stack.push(a.creator);
    }
    return found;
  }

  const numbersOf = (t) => (t.data.length <= CR.VALUE_LIMIT ? Array.from(t.data, CR.toJSON) : null);

  CR.VALUE_LIMIT = 250000;

  function opFields(n) {  // Layer.explain_fields, rule_values' attributes (graphdata._op_attributes)
    if (n.op === "Pow") return { fields: { p: n.attributes.p >= 0 ? CR.formatG(n.attributes.p) : `(${CR.formatG(n.attributes.p)})` }, attributes: { p: n.attributes.p } };
    if (n.op === "Mean") return { fields: { n: n.state.count }, attributes: n.attributes };
    if (n.op === "Sum") return { fields: {}, attributes: n.attributes };
    if (n.op === "Transpose") return { fields: {}, attributes: { axes: null } };
    return { fields: {}, attributes: {} };
  }
  function symbolOf(n) {
    if (n.op === "Pow") return n.attributes.p >= 0 ? `**${CR.formatG(n.attributes.p)}` : `**(${CR.formatG(n.attributes.p)})`;
    return n.meta.symbol;
  }
  function matrixShapes(n) {  // MatMul.matrix_shapes
    if (n.op !== "MatMul") return {};
    const a = n.state.a.shape, b = n.state.b.shape;
    if (a.length > 1 && b.length > 1) return {};
    const shapes = {};
    if (a.length === 1) shapes.x = [1, a[0]];
    if (b.length === 1) shapes.y = [1, b[0]];
    if (a.length === 1 && b.length === 2) shapes.dout = [1, b[1]];
    else if (a.length === 2 && b.length === 1) shapes.dout = [a[0], 1];
    return shapes;
  }
  // graphdata.node_label: a scalar constant folded in, on its own side where the operation is not commutative
  function nodeLabel(symbol, op, constants) {
    if (!constants.length) return symbol;
    const texts = constants.map(([, t]) => (t.startsWith("-") ? `(${t})` : t));
    if (op === "Mul" || op === "Add" || constants.length !== 1) return symbol + texts.join("");
    return constants[0][0] === 0 ? `${texts[0]} ${symbol} ·` : `· ${symbol} ${texts[0]}`;
  }

  CR.describeGraph = function (output, title, direction, longestLr) {
    const nodes = nodesOf(output).sort((p, q) => p.seq - q.seq);
    const ids = new Map(), values = {}, records = [];
    let count = 0;
    const used = new Set();
    for (const n of nodes) for (const a of n.args) if (isVar(a) && a.name) used.add(a.name);
    for (const n of nodes) if (n.output.name) used.add(n.output.name);
    let auto = 0;
    const nextAuto = () => { do auto++; while (used.has(`v${auto}`)); return `v${auto}`; };
    const addVariable = (v, role) => {
      if (!ids.has(v)) ids.set(v, `value${++count}`);
      const vid = ids.get(v);
      if (!(vid in values))
        values[vid] = { id: vid, name: v.name || nextAuto(), role, shape: v.data.shape.slice(), value: numbersOf(v.data),
                        label: CR.formatValue(v.data), grad: null, grad_label: null, auto_name: v.name === null };
      return vid;
    };
    nodes.forEach((n, k) => {
      const nid = `node${k + 1}`;
      n.id = nid;
      const argNames = n.meta.input_names.slice(0, n.n_inputs);
      const inputs = [], folded = [];
      n.args.forEach((arg, i) => {
        const argName = i < argNames.length ? argNames[i] : `input${i}`;
        if (isVar(arg)) inputs.push({ ref: addVariable(arg, arg.creator ? "intermediate" : "input"), arg: argName });
        else { folded.push([i, CR.formatNumber(arg)]); inputs.push({ ref: null, arg: argName, folded: arg }); }
      });
      const outId = addVariable(n.output, n.output === output ? "output" : "intermediate");
      const slots = [...Array(n.args.length).keys()].filter((i) => i >= n.n_inputs || !n.meta.constant_inputs.includes(i));
      const rules = {};
      slots.forEach((slot, j) => { if (j < n.meta.rules.length) rules[String(slot)] = n.meta.rules[j]; });
      const { fields, attributes } = opFields(n);
      const symbol = symbolOf(n);
      records.push({ id: nid, op: n.op, symbol, label: nodeLabel(symbol, n.op, folded), inputs, output: outId,
                     n_inputs: n.n_inputs, constant_inputs: n.meta.constant_inputs.slice(), rules,
                     symbols: { dout: "dout", out: "out", ...n.meta.rule_symbols }, fields, attributes,
                     matrix_shapes: matrixShapes(n), definitions: n.meta.definitions.map((d) => d.slice()) });
    });
    const data = { format: "chainrule-graph", version: 1, title: title || null, output: ids.get(output), values, nodes: records,
                   backward: [], branches: {}, recompute: true, recompute_reason: null, marked: null, marked_note: null };
    // backward in the engine's order (newest generation first, then creation order), with the rules in words
    const order = nodes.slice().sort((p, q) => q.generation - p.generation || p.seq - q.seq);
    data.backward = order.map((n) => ({ node: n.id }));
    const r = CR.compute(data, {});
    const contributions = {};
    data.backward = r.steps.map((s) => {
      const node = records.find((x) => x.id === s.node);
      const sent = CR.stepTexts(data, node, r.states[s.node], s.upstream, r.vals, s.sent).map((entry, k) => {
        const ordered = { input: entry.input, value: numbersOf(s.sent[k].value), label: entry.label };
        for (const key of ["symbolic", "numeric", "relation", "note", "local", "local_value"]) if (entry[key] !== undefined) ordered[key] = entry[key];
        (contributions[entry.input] = contributions[entry.input] || []).push({ node: s.node, via: node.label.replace("\n", " "), value: s.sent[k].value });
        return ordered;
      });
      return { node: s.node, upstream: numbersOf(s.upstream), upstream_label: CR.formatValue(s.upstream), sent };
    });
    for (const [vid, terms] of Object.entries(contributions)) {
      const total = r.grads[vid];
      values[vid].grad = numbersOf(total);
      values[vid].grad_label = CR.formatValue(total);
      if (terms.length > 1) {
        const { texts, relation } = CR.sumEquation(terms.map((t) => t.value), total);
        data.branches[vid] = { terms: terms.map((t, k) => ({ node: t.node, via: t.via, label: texts[k] })), relation, total: CR.formatValue(total) };
      }
    }
    const outValue = values[data.output];
    outValue.grad = Array.from(r.grads[data.output].data, CR.toJSON);
    outValue.grad_label = CR.formatValue(r.grads[data.output]);
    data.layout = CR.graphLayout(data, direction || "auto", longestLr || 5);
    return data;
  };
})(typeof module !== "undefined" ? require("./engine.js") : CR);

if (typeof module !== "undefined") module.exports = require("./engine.js");
