// Builds dist/parley-widget.js (one self-contained script) from src/.
// `node build.mjs` once, `node build.mjs --watch` while editing.
import * as esbuild from "esbuild";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const options = {
  entryPoints: ["src/index.js"],
  outfile: "dist/parley-widget.js",
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "iife",
  target: ["es2019", "chrome80", "firefox78", "safari13"],
  loader: { ".css": "text" },
  define: { __PARLEY_VERSION__: JSON.stringify(pkg.version) },
  legalComments: "linked",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
