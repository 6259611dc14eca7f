// Bundles the tokenizer, transformer and sampler test files (the parity
// suites) for a machine without node_modules (the GPU machine of run.sh):
//   node tools/device/parity/bundle-parity.mjs OUT_DIR   (pack.sh: .device/app/parity)
// One entry per test file, OUT_DIR/<package>-<file>.mjs (e.g.
// transformer-config.mjs), each: @nextscale/backend-native handed to the
// backends' loader (globalThis.__nextscaleNative, as entry.mjs does), the
// package's src/test-setup.ts, the test file, then the shim's run() and one
// final JSON line (counts and per-test results). What the entries share is in
// chunk-*.mjs beside them (one copy of tfjs, the backends and the sources).
// The workspace packages are bundled from their TypeScript sources (the
// "@nextscale/source" export condition, as vitest runs them), `vitest` is
// vitest-shim.mjs, tfjs-core is one directory, node:* and webgpu stay external.
// OUT_DIR must be .device/app/parity: test-utils finds test-fixtures/ at
// ../../../test-fixtures from its chunk (the repository root) and its skip list
// at ../conformance-skips.json (.device/app/, pack.sh copies it); backend-native
// reads ../build (.device/app/build) and ../../build (.device/build).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
export const PACKAGES = ["tokenizer", "transformer", "sampler"];

const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node tools/device/parity/bundle-parity.mjs OUT_DIR");
  process.exit(2);
}
const pnpm = join(root, "node_modules", ".pnpm");
const dir = readdirSync(pnpm).find((d) => /^rolldown@/.test(d));
if (!dir) throw new Error("rolldown is not in node_modules/.pnpm (it comes with vite: pnpm install)");
const { rolldown } = await import(pathToFileURL(join(pnpm, dir, "node_modules", "rolldown", "dist", "index.mjs")).href);

// The sampler imports @nextscale/model-fashion-mnist by name at run time (the default model): the sampler's
// entries bundle its sources and hand them over through a shim package, OUT_DIR/../node_modules/@nextscale/
// model-fashion-mnist (as pack.sh does for backend-native); its weights are then at OUT_DIR/../weights (run.sh links them).
const FASHION_MNIST = join(root, "packages", "model-fashion-mnist", "src", "index.ts");
function exportNames(file) {
  const src = readFileSync(file, "utf8");
  const names = new Set();
  for (const m of src.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(",")) {
      const p = part.trim();
      if (p && !p.startsWith("type ")) names.add(p.split(/\s+as\s+/).pop().trim());
    }
  }
  for (const m of src.matchAll(/export\s+(?:async\s+)?(?:const|let|function\*?|class)\s+([A-Za-z_$][\w$]*)/g)) names.add(m[1]);
  return [...names];
}
const fmDir = join(outDir, "..", "node_modules", "@nextscale", "model-fashion-mnist");
mkdirSync(fmDir, { recursive: true });
writeFileSync(join(fmDir, "package.json"), '{ "name": "@nextscale/model-fashion-mnist", "type": "module", "exports": "./index.js" }\n');
const fmNames = exportNames(FASHION_MNIST);
writeFileSync(join(fmDir, "index.js"), `const m = globalThis.__nextscaleFashionMnist;\nexport const ${fmNames.map((n) => `${n} = m.${n}`).join(", ")};\n`);

const tmp = mkdtempSync(join(tmpdir(), "nextscale-parity-"));
const shim = join(here, "vitest-shim.mjs");
const input = {};
for (const pkg of PACKAGES) {
  const src = join(root, "packages", pkg, "src");
  for (const f of readdirSync(src)
    .filter((f) => f.endsWith(".test.ts"))
    .sort()) {
    const name = `${pkg}-${f.slice(0, -".test.ts".length)}`;
    const rel = `packages/${pkg}/src/${f}`;
    const entry = join(tmp, `${name}.mjs`);
    writeFileSync(
      entry,
      `import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import * as native from ${JSON.stringify(join(root, "packages", "backend-native", "src", "index.ts"))};
import { run, setFile } from ${JSON.stringify(shim)};
${pkg === "sampler" ? `import * as fashionMnist from ${JSON.stringify(FASHION_MNIST)};\nglobalThis.__nextscaleFashionMnist = fashionMnist;\n` : ""}
globalThis.__nextscaleNative = native;
const rel = ${JSON.stringify(rel)};
setFile(fileURLToPath(new URL("../../../" + rel, import.meta.url)), rel);
let summary;
try {
  await import(${JSON.stringify(join(src, "test-setup.ts"))});
  await import(${JSON.stringify(join(src, f))});
  summary = await run();
} catch (e) {
  console.error(e);
  summary = { file: rel, passed: 0, failed: 1, skipped: 0, todo: 0, errors: ["setup or import: " + String(e?.message ?? e).split("\\n")[0]], tests: [] };
}
const backend = tf.getBackend();
const fallbackKernels = backend === "cuda" ? native.cudaFallbackKernels() : backend === "native" ? native.fallbackKernels() : undefined;
console.log(JSON.stringify({ parity: ${JSON.stringify(name)}, backend, fallbackKernels, ...summary }));
process.exitCode = summary.failed ? 1 : 0;
`,
    );
    input[name] = entry;
  }
}

try {
  const b = await rolldown({
    input,
    platform: "node",
    external: [/^node:/, "webgpu"],
    resolve: {
      conditionNames: ["@nextscale/source", "import", "module", "node", "default"],
      alias: {
        "@tensorflow/tfjs-core": join(root, "packages", "backend-native", "node_modules", "@tensorflow", "tfjs-core"),
        vitest: shim,
      },
    },
    // the packages declare "sideEffects": false, which would drop a test file's top-level describe() calls
    treeshake: { moduleSideEffects: () => true },
    logLevel: "warn",
  });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { output } = await b.write({ dir: outDir, format: "esm", entryFileNames: "[name].mjs", chunkFileNames: "chunk-[name]-[hash].mjs" });
  const entries = output.filter((o) => o.type === "chunk" && o.isEntry).length;
  console.log(`${entries} parity bundles, ${output.length - entries} shared chunks in ${outDir}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
