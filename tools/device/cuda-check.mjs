// The cuda backend's kernels against tfjs-backend-cpu on the same inputs, on
// whatever device registerCuda() gets (the GPU; the host emulation with
// --emulate): the GPU-side counterpart of src/cuda/cuda.test.ts, without
// vitest. Prints one JSON line: each check's max relative error, pass/fail,
// the device and GEMM strings, and the kernels that fell back to the host.
import * as tf from "@tensorflow/tfjs-core";

function rand(n, seed) {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca77)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x ^= x >>> 12;
    v[i] = -1 + (x / 2 ** 32) * 2;
  }
  return v;
}
const t = (s, seed) => tf.tensor(rand(s.reduce((a, b) => a * b, 1), seed), s);

async function on(backend, f) {
  await tf.setBackend(backend);
  const y = tf.tidy(f);
  const v = await y.data();
  y.dispose();
  return v;
}

const CHECKS = [
  ["add broadcast", () => tf.add(t([4, 1, 6], 1), t([5, 1], 2))],
  ["mul", () => tf.mul(t([64, 96], 1), t([64, 96], 2))],
  ["exp", () => tf.exp(t([33, 7], 3))],
  ["tanh", () => tf.tanh(t([33, 7], 3))],
  ["transpose", () => tf.transpose(t([2, 3, 4, 5], 1), [2, 0, 3, 1])],
  ["slice", () => tf.slice(t([6, 7, 8], 1), [1, 2, 3], [4, 3, 2])],
  ["concat", () => tf.concat([t([2, 3, 4], 1), t([2, 5, 4], 2)], 1)],
  ["sum axes 0,2", () => tf.sum(t([5, 6, 7], 4), [0, 2])],
  ["max last", () => tf.max(t([50, 300], 4), -1)],
  ["softmax", () => tf.softmax(tf.mul(t([64, 600], 5), 8))],
  ["matMul 512x1024x256", () => tf.matMul(t([512, 1024], 1), t([1024, 256], 2))],
  ["matMul batched tB", () => tf.matMul(t([2, 4, 40, 16], 1), t([2, 4, 50, 16], 2), false, true)],
  ["matMul tA broadcast", () => tf.matMul(t([3, 33, 17], 1), t([33, 9], 2), true, false)],
];

export async function runChecks(args) {
  const emulate = args.includes("--emulate");
  const native = globalThis.__nextscaleNative;
  const results = [];
  let device = "";
  try {
    native.registerCuda({ emulate });
    await tf.setBackend("cpu");
    device = `${native.cudaInfo({ emulate }).device}; GEMM: ${native.cudaInfo({ emulate }).gemm}`;
    for (const [name, f] of CHECKS) {
      const want = await on("cpu", f);
      const t0 = performance.now();
      const got = await on("cuda", f);
      const ms = performance.now() - t0;
      let d = 0;
      let m = 1e-30;
      for (let i = 0; i < want.length; i++) {
        d = Math.max(d, Math.abs(got[i] - want[i]));
        m = Math.max(m, Math.abs(want[i]));
      }
      const rel = got.length === want.length && !Number.isNaN(d) ? d / m : Infinity;
      results.push({ name, maxRelError: rel, pass: rel < 1e-4, ms: Math.round(ms * 10) / 10 });
    }
  } catch (e) {
    results.push({ name: "setup", pass: false, error: e.message });
  }
  const ok = results.every((r) => r.pass);
  console.log(JSON.stringify({ kind: "cuda-check", device, ok, results, fallbackKernels: native.cudaFallbackKernels() }));
  return ok ? 0 : 1;
}
