// Times each candidate fast kernel against its plain-ops fallback at the
// shapes of VAR d16 inference (batch 1 with guidance, so B = 2; the VQ-VAE
// decoder's GroupNorms at batch 1) and checks that they agree. Build first (pnpm build), then:
//   node bench/fused-kernels.mjs wasm
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node bench/fused-kernels.mjs webgpu
// Only kernels that win here are listed in src/kernels/register-all.ts.
import * as tf from "@tensorflow/tfjs-core";
import * as core from "../../core/dist/index.js";
import { backendInfo, initBackend } from "../dist/index.js";
import { CANDIDATES } from "../dist/kernels/candidates.js";

const backend = process.argv[2] ?? "wasm";
await initBackend(backend);
console.log(JSON.stringify(backendInfo()));
const reps = Number(process.env.REPS ?? (backend === "webgpu" ? 10 : 30));

async function time(fn) {
  for (let i = 0; i < 2; i++) {
    const y = fn();
    await y.data();
    y.dispose();
  }
  const t0 = performance.now();
  let y;
  for (let i = 0; i < reps; i++) {
    y?.dispose();
    y = fn();
  }
  await y.data();
  const ms = (performance.now() - t0) / reps;
  y.dispose();
  return ms;
}

const C = 1024; // d16 width
const H = 16; // heads
const patch = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];
const cases = {
  AdaLNModulate: patch.map((p) => {
    const L = p * p;
    return {
      label: `x (2, ${L}, ${C})`,
      inputs: () => [tf.randomNormal([2, L, C]), tf.randomNormal([2, 1, C]), tf.randomNormal([2, 1, C])],
      op: (x, s, b) => core.adaLNModulate(x, s, b, 1e-6),
      fallback: (x, s, b) => core.adaLNModulateFallback(x, s, b, 1e-6),
    };
  }),
  KVAttention: patch.map((p, i) => {
    const Lq = p * p;
    const Lk = patch.slice(0, i + 1).reduce((a, q) => a + q * q, 0);
    return {
      label: `q (2, ${H}, ${Lq}, 64), kv (2, ${H}, ${Lk}, 64)`,
      inputs: () => [tf.randomNormal([2, H, Lq, 64]), tf.randomNormal([2, H, Lk, 64]), tf.randomNormal([2, H, Lk, 64])],
      op: (q, k, v) => core.kvAttention(q, k, v, 0.125),
      fallback: (q, k, v) => core.kvAttentionFallback(q, k, v, 0.125),
    };
  }),
  Resample2d: [
    [2, 10, 16, 32, "bicubic"],
    [2, 16, 10, 32, "area"],
    [1, 256, 299, 3, "bilinear"],
  ].map(([B, n, m, ch, mode]) => ({
    label: `${mode} (${B}, ${n}, ${n}, ${ch}) -> ${m}`,
    inputs: () => [tf.randomNormal([B, n, n, ch]), core.resampleTensor(mode, n, m), core.resampleTensor(mode, n, m)],
    op: (x, mh, mw) => core.resample2d(x, mh, mw),
    fallback: (x, mh, mw) => core.resample2dFallback(x, mh, mw),
  })),
  // the VQ-VAE decoder's GroupNorm + SiLU: one of each shape (the decode runs 39)
  GroupNormAct: [
    [16, 640],
    [32, 640],
    [32, 320],
    [64, 320],
    [128, 320],
    [128, 160],
    [256, 160],
  ].map(([s, ch]) => ({
    label: `x (1, ${s}, ${s}, ${ch}), 32 groups, SiLU`,
    inputs: () => [tf.randomNormal([1, s, s, ch]), tf.randomNormal([ch]), tf.randomNormal([ch])],
    op: (x, g, b) => core.groupNorm(x, g, b, 32, 1e-6, true),
    fallback: (x, g, b) => core.groupNormFallback(x, g, b, 32, 1e-6, true),
  })),
};

for (const config of CANDIDATES[backend] ?? []) {
  const name = config.kernelName;
  if (!tf.getKernel(name, backend)) tf.registerKernel(config);
  console.log(`\n${name} on ${backend}: fallback ms, fast ms, speedup, max |diff|`);
  let tf_ = 0;
  let tk = 0;
  for (const c of cases[name]) {
    const inputs = c.inputs();
    const slow = await time(() => c.fallback(...inputs));
    const fast = await time(() => c.op(...inputs));
    const a = await c.fallback(...inputs).data();
    const b = await c.op(...inputs).data();
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
    tf_ += slow;
    tk += fast;
    console.log(`  ${c.label.padEnd(44)} ${slow.toFixed(3).padStart(9)} ${fast.toFixed(3).padStart(9)} ${(slow / fast).toFixed(2).padStart(6)}x  ${err.toExponential(2)}`);
    tf.dispose(inputs);
  }
  console.log(`  ${"sum over the scales".padEnd(44)} ${tf_.toFixed(3).padStart(9)} ${tk.toFixed(3).padStart(9)} ${(tf_ / tk).toFixed(2).padStart(6)}x`);
}
