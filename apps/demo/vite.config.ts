/**
 * The demo's build: a static site in dist/ that any static server can host
 * (base "./": it works from any path). Besides the bundle it holds
 *   wasm/*.wasm               tfjs-backend-wasm's three builds (plain, SIMD, threaded SIMD),
 *                             copied from the package and served at that path by `vite` (dev)
 *   assets/{vae,var}-*.safetensors   the bundled model's weights: vite emits what
 *                             @nextscale/model-fashion-mnist's `new URL("../weights/…", import.meta.url)`
 *                             names (content-hashed, so the Cache API key changes with the weights)
 * (nothing duplicated in git). `dev` and `preview` send the two headers that
 * make the page cross-origin isolated, which tfjs' threaded wasm build needs
 * (SharedArrayBuffer); a server of your own must send them too (README).
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig, type Plugin } from "vite";

const require = createRequire(import.meta.url);
const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** URL path in the site -> file on disk. */
function staticFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const wasmDist = join(pkgDir("@tensorflow/tfjs-backend-wasm"), "dist");
  for (const f of readdirSync(wasmDist).filter((f) => f.endsWith(".wasm"))) files[`wasm/${f}`] = join(wasmDist, f);
  return files;
}

export const CROSS_ORIGIN_ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
} as const;

/** Serve the .wasm files in dev and copy them into the build. */
function copyStaticFiles(): Plugin {
  const files = staticFiles();
  return {
    name: "nextscale-demo-static-files",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? "").split("?")[0]).replace(/^\//, "");
        const file = files[path];
        if (!file) return next();
        res.setHeader("Content-Type", path.endsWith(".wasm") ? "application/wasm" : "application/octet-stream");
        res.end(readFileSync(file));
      });
    },
    generateBundle() {
      for (const [fileName, file] of Object.entries(files)) this.emitFile({ type: "asset", fileName, source: readFileSync(file) });
    },
  };
}

/** The model package's weights/ folder is emitted whole (a glob of its `new URL`); the demo never uses the classifier (1.7 MB). */
function dropClassifierWeights(): Plugin {
  return {
    name: "nextscale-demo-drop-classifier",
    generateBundle(_, bundle) {
      for (const [name, out] of Object.entries(bundle)) {
        if (out.type === "asset" && out.originalFileNames?.some((f) => f.endsWith("weights/classifier.safetensors"))) delete bundle[name];
      }
    },
  };
}

export default defineConfig({
  base: "./",
  plugins: [copyStaticFiles()],
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
  // the worker code-splits (the backends load lazily), which needs module workers
  worker: { format: "es", plugins: () => [dropClassifierWeights()] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // tfjs-backend-wasm's threaded build hands its pthread workers code that refers to the bundle's
    // own names: a minifier that renames identifiers breaks it (tfjs issues #4107, #4539)
    minify: false,
    chunkSizeWarningLimit: 4000,
  },
});
