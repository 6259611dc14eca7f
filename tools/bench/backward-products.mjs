// GFLOP/s of the products of a training step's backward pass on wasm, with
// tfjs-wasm's own kernels ("tfjs") and with @nextscale/backends' training
// overrides ("nextscale"), interleaved in one run, at the shapes of the two
// `nextscale bench --train` configurations (VAR d4 width 256 batch 32 on
// patch nums 1,2,3,4: 30 tokens, 4 heads; VQ-VAE ch 32, mult 1,2,2 on 32 px,
// batch 32). Build the backends first (pnpm --filter @nextscale/backends build), then:
//   node tools/bench/backward-products.mjs [reps]      (ONLY=regexp: the rows whose labels match)
import { createRequire } from "node:module";
import { backendInfo, initBackend, setTrainingKernels } from "../../packages/backends/dist/index.js";

// tools/bench is no package: tfjs-core is the one the backends resolve
const tf = await import(createRequire(new URL("../../packages/backends/package.json", import.meta.url)).resolve("@tensorflow/tfjs-core"));

await initBackend("wasm");
const info = backendInfo();
console.log(`backend: wasm (${info.device})`);
const reps = Number(process.argv[2] ?? 5);

async function time(f) {
  const y0 = f();
  await y0.data();
  y0.dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = f();
    await y.data();
    y.dispose();
  }
  return (performance.now() - t0) / reps;
}

/** The filter gradient as one product per filter tap (core's gradient before this change). */
function filterGradPerTap(x, dy, [KH, KW, Ci, Co], pad) {
  return tf.tidy(() => {
    const [B, Ho, Wo] = dy.shape;
    const xp = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
    const dy2 = tf.reshape(dy, [B * Ho * Wo, Co]);
    const taps = [];
    for (let i = 0; i < KH; i++)
      for (let j = 0; j < KW; j++)
        taps.push(tf.matMul(tf.reshape(tf.slice(xp, [0, i, j, 0], [B, Ho, Wo, Ci]), [B * Ho * Wo, Ci]), dy2, true, false));
    return tf.reshape(tf.stack(taps), [KH, KW, Ci, Co]);
  });
}
/** The filter gradient as one convolution, the batch as channels (core's gradient now). */
function filterGradConv(x, dy, [KH, KW, Ci, Co], pad) {
  return tf.tidy(() => {
    const xp = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
    const g = tf.conv2d(tf.transpose(xp, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, "valid");
    return tf.transpose(tf.slice(g, [0, 0, 0, 0], [Ci, KH, KW, Co]), [1, 2, 0, 3]);
  });
}

const R = 32 * 30; // VAR rows: batch × tokens
const cases = [];
for (const [k, n, what] of [
  [256, 768, "qkv"],
  [256, 1024, "fc1"],
  [1024, 256, "fc2"],
  [256, 512, "head"],
]) {
  cases.push({ label: `VAR ${what} forward (${R},${k})·(${k},${n})`, flop: 2 * R * k * n, a: [R, k], b: [k, n], tA: false, tB: false });
  cases.push({ label: `VAR ${what} dX (${R},${n})·(${k},${n})ᵀ`, flop: 2 * R * k * n, a: [R, n], b: [k, n], tA: false, tB: true });
  cases.push({ label: `VAR ${what} dW (${R},${k})ᵀ·(${R},${n})`, flop: 2 * R * k * n, a: [R, k], b: [R, n], tA: true, tB: false });
}
const att = [32, 4, 30, 64];
const bh = 32 * 4 * 30 * 30 * 64 * 2;
cases.push({ label: "VAR attention q·kᵀ (32,4,30,64)", flop: bh, a: att, b: att, tA: false, tB: true });
cases.push({ label: "VAR attention p·v (32,4,30,30)·(32,4,30,64)", flop: bh, a: [32, 4, 30, 30], b: att, tA: false, tB: false });
cases.push({ label: "VAR attention dP = dO·vᵀ", flop: bh, a: att, b: att, tA: false, tB: true });
cases.push({ label: "VAR attention dV = pᵀ·dO", flop: bh, a: [32, 4, 30, 30], b: att, tA: true, tB: false });

const convs = [
  [32, 32, 32, 32],
  [16, 16, 64, 64],
  [8, 8, 64, 64],
  [32, 32, 32, 3],
];
const rows = [];
const only = process.env.ONLY ? new RegExp(process.env.ONLY) : undefined; // a regexp on the labels
const run = async (label, flop, f) => {
  if (only && !only.test(label)) return;
  setTrainingKernels("wasm", false);
  const before = await time(f.before);
  setTrainingKernels("wasm", true);
  const after = await time(f.after);
  const g = (ms) => (flop / (ms / 1e3) / 1e9).toFixed(2);
  rows.push({ label, tfjs_ms: +before.toFixed(2), nextscale_ms: +after.toFixed(2), tfjs_gflops: +g(before), nextscale_gflops: +g(after) });
  console.log(`${label}: tfjs ${before.toFixed(2)} ms (${g(before)} GFLOP/s), nextscale ${after.toFixed(2)} ms (${g(after)} GFLOP/s), ${(before / after).toFixed(1)}×`);
};
for (const c of cases) {
  const a = tf.randomNormal(c.a);
  const b = tf.randomNormal(c.b);
  const f = () => tf.matMul(a, b, c.tA, c.tB);
  await run(c.label, c.flop, { before: f, after: f });
  tf.dispose([a, b]);
}
for (const [H, W, Ci, Co] of convs) {
  const x = tf.randomNormal([32, H, W, Ci]);
  const w = tf.randomNormal([3, 3, Ci, Co]);
  const dy = tf.randomNormal([32, H, W, Co]);
  const flop = 2 * 32 * H * W * Ci * Co * 9;
  const fwd = () => tf.conv2d(x, w, 1, "same");
  await run(`VQ-VAE conv 3×3 forward ${H}×${W}×${Ci}→${Co}`, flop, { before: fwd, after: fwd });
  const dx = () => tf.conv2dTranspose(dy, w, x.shape, 1, "same");
  await run(`VQ-VAE conv input gradient ${H}×${W}×${Ci}→${Co}`, flop, { before: dx, after: dx });
  await run(`VQ-VAE conv filter gradient ${H}×${W}×${Ci}→${Co} (per tap → one conv)`, flop, {
    before: () => filterGradPerTap(x, dy, [3, 3, Ci, Co], 1),
    after: () => filterGradConv(x, dy, [3, 3, Ci, Co], 1),
  });
  tf.dispose([x, w, dy]);
}
if (process.env.JSON) console.log(JSON.stringify({ backend: info, rows }));
