// GFLOP/s of a 1024×1024 matMul and a 3×3 conv (64×64×128 -> 128) on one
// backend. Build first (pnpm build), then:
//   node bench/matmul-conv.mjs wasm [threads]      (threads 1: the single-threaded SIMD build)
//   node bench/matmul-conv.mjs cpu
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node bench/matmul-conv.mjs webgpu
import * as tf from "@tensorflow/tfjs-core";
import { backendInfo, initBackend } from "../dist/index.js";

const [backend = "wasm", threads] = process.argv.slice(2);
await initBackend(backend, threads ? { threads: Number(threads) } : {});
console.log(JSON.stringify(backendInfo()));

async function rate(label, flop, f, reps) {
  const warm = f();
  await warm.data();
  warm.dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = f();
    await y.data();
    y.dispose();
  }
  const s = (performance.now() - t0) / 1000 / reps;
  console.log(`${label}: ${(s * 1000).toFixed(1)} ms, ${(flop / s / 1e9).toFixed(2)} GFLOP/s`);
}

const reps = backend === "wasm" ? 20 : 3;
const N = 1024;
const a = tf.randomNormal([N, N]);
const b = tf.randomNormal([N, N]);
await rate("matMul 1024x1024x1024", 2 * N ** 3, () => tf.matMul(a, b), reps);
const x = tf.randomNormal([1, 64, 64, 128]);
const w = tf.randomNormal([3, 3, 128, 128]);
await rate("conv2d 3x3, 64x64x128 -> 128", 2 * 64 * 64 * 128 * 128 * 9, () => tf.conv2d(x, w, 1, "same"), reps);
