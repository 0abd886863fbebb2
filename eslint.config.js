// eslint for the page's JavaScript (run by .ci/run: npm ci && npm run lint).
"use strict";
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  js.configs.recommended,
  {
    files: ["chainrule/draw/static/engine.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: { ...globals.browser, module: "readonly" } },
  },
  {
    files: ["chainrule/draw/static/page.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: { ...globals.browser, CR: "readonly" } },
  },
  {
    // the engine's extensions: in the page they extend the global CR, under Node.js they require engine.js
    files: ["chainrule/draw/static/layout.js", "chainrule/draw/static/expression.js", "chainrule/draw/static/images.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script",
                       globals: { ...globals.browser, CR: "readonly", module: "readonly", require: "readonly" } },
  },
  {
    files: ["chainrule/draw/static/**/*.js"],
    rules: { "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }], eqeqeq: ["error", "smart"], "no-var": "error", "prefer-const": "error" },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "commonjs", globals: { ...globals.node } },
    rules: { "no-unused-vars": ["error", { args: "none" }], eqeqeq: ["error", "smart"], "prefer-const": "error" },
  },
];
