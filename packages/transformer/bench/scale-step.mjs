/**
 * Benchmark (not a test): forward time of one next-scale step of a VAR
 * preset with random weights, per tfjs backend.
 *
 * The measured step is the one the sampler repeats: `embedScale` +
 * `forwardScale` of one scale (default: the last, 16×16 = 256 tokens for
 * d16) for a classifier-free-guidance batch (default 2 = 1 image × 2), with a
 * KV cache already holding every earlier scale. The cache is filled with
 * random keys and values of the right shapes (the cost of a step does not
 * depend on the values); `--real-fill` runs the earlier scales instead.
 *
 * Run after `pnpm build`:  node bench/scale-step.mjs [--backends cpu,wasm]
 *   [--preset d16] [--batch 2] [--scale -1] [--reps 2] [--real-fill]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { initBackend } from "@nextscale/backends";
import { Random } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { initWeights, VAR_PRESETS, VarTransformer } from "../dist/index.js";

const { values: opt } = parseArgs({
  options: {
    backends: { type: "string", default: "cpu,wasm" },
    preset: { type: "string", default: "d16" },
    batch: { type: "string", default: "2" },
    scale: { type: "string", default: "-1" },
    reps: { type: "string", default: "2" },
    "real-fill": { type: "boolean", default: false },
  },
});
const config = VAR_PRESETS[opt.preset];
if (!config) throw new Error(`unknown preset ${opt.preset} (known: ${Object.keys(VAR_PRESETS).join(", ")})`);
const B = Number(opt.batch);
const K = config.patchNums.length;
const si = (Number(opt.scale) + K) % K;
const reps = Number(opt.reps);
const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? "unknown cpu"}, ${cpus.length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.arch()}, node ${process.version}`);
console.log(`model: VAR-${opt.preset} (${config.depth} blocks, C=${config.embedDim}), step: scale ${si} (${config.patchNums[si]}², ${config.patchNums[si] ** 2} tokens) × batch ${B}, cache of ${config.patchNums.slice(0, si).reduce((s, p) => s + p * p, 0)} tokens${opt["real-fill"] ? " (real)" : " (random keys/values)"}`);

const now = () => performance.now();

for (const name of opt.backends.split(",")) {
  const backend = await initBackend(name);
  const flags = backend === "wasm" ? ` simd=${await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")} threads=${await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")}` : "";
  const model = new VarTransformer(config);
  let t = now();
  initWeights(model, new Random(0));
  console.log(`[${backend}${flags}] random init of ${model.numParameters().toLocaleString("en")} parameters: ${((now() - t) / 1000).toFixed(1)} s`);
  const labels = [...Array.from({ length: B - Math.floor(B / 2) }, (_, i) => i % config.numClasses), ...new Array(Math.floor(B / 2)).fill(config.numClasses)];
  const cond = model.condition(labels);
  const H = config.numHeads;
  const c = config.embedDim / H;
  const times = [];
  for (let r = 0; r < reps; r++) {
    const cache = model.newCache();
    if (opt["real-fill"]) {
      let x = model.embedFirstScale(cond);
      for (let s = 0; s < si; s++) {
        t = now();
        const logits = model.forwardScale(x, cond, cache);
        await logits.data();
        console.log(`[${backend}] fill scale ${s} (${config.patchNums[s] ** 2} tokens): ${(now() - t).toFixed(0)} ms`);
        tf.dispose([x, logits]);
        const tokens = tf.randomNormal([B, config.patchNums[s + 1] ** 2, config.cvae], 0, 1, "float32", s);
        x = model.embedScale(s + 1, tokens);
        tokens.dispose();
      }
      x.dispose();
    } else {
      for (let s = 0; s < si; s++) {
        const l = config.patchNums[s] ** 2;
        for (let b = 0; b < config.depth; b++) {
          tf.tidy(() => {
            cache.append(b, tf.randomNormal([B, H, l, c], 0, 0.1, "float32", 2 * b), tf.randomNormal([B, H, l, c], 0, 1, "float32", 2 * b + 1));
          });
        }
        cache.advance(l);
      }
    }
    const tokens = si === 0 ? null : tf.randomNormal([B, config.patchNums[si] ** 2, config.cvae], 0, 1, "float32", 99);
    t = now();
    const x = tokens ? model.embedScale(si, tokens) : model.embedFirstScale(cond);
    const logits = model.forwardScale(x, cond, cache);
    await logits.data(); // wait for the backend to finish
    const ms = now() - t;
    times.push(ms);
    console.log(`[${backend}] step ${r + 1}/${reps}: scale ${si} forward ${ms.toFixed(0)} ms -> logits [${logits.shape}]`);
    tf.dispose([tokens, x, logits].filter(Boolean));
    cache.dispose();
  }
  cond.dispose();
  model.dispose();
  console.log(`RESULT backend=${backend}${flags} preset=${opt.preset} scale=${si} batch=${B} min=${Math.min(...times).toFixed(0)} ms (${times.map((x) => x.toFixed(0)).join(", ")})`);
}
