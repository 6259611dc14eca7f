/**
 * wasm weight packing (kernels/wasm/weight-packing.ts): the start-up self
 * test, the im2col convolution packed weights run with, and the memory it
 * saves, measured on the WebAssembly heap. On other backends there is no
 * weight packing, which is checked too.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { backendFromEnv, backendInfo, initBackend } from "./index.js";
import { conv2d } from "./kernels/wasm/weight-packing.js";

const REGISTRY = Symbol.for("@nextscale/weight-packing");
const registry = () => (globalThis as unknown as Record<symbol, Map<string, { release(w: tf.Tensor): boolean }>>)[REGISTRY];

describe("weight packing", async () => {
  const name = await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
  console.log(`backend: ${name}`);

  it("is offered on wasm, after its self-test, and only there", () => {
    const info = backendInfo();
    console.log(`weightPacking: ${info.weightPacking}${info.weightPackingNote ? ` (${info.weightPackingNote})` : ""}`);
    expect(info.weightPacking).toBe(name === "wasm");
    expect(registry()?.has(name) ?? false).toBe(name === "wasm");
  });

  it.runIf(name === "wasm")("im2col + matMul equals tf.conv2d (kernels, strides, paddings, batches, bands)", () => {
    const cases: [number[], number[], number, [[number, number], [number, number]], number?][] = [
      [[2, 9, 11, 5], [3, 3, 5, 7], 1, [[1, 1], [1, 1]]],
      [[1, 9, 11, 5], [3, 3, 5, 7], 1, [[1, 1], [1, 1]], 3 * 11 * 45], // three output rows per band
      [[2, 8, 8, 4], [3, 3, 4, 6], 2, [[0, 1], [0, 1]]], // the VQ-VAE's downsampling
      [[1, 7, 7, 3], [1, 3, 3, 2], 1, [[0, 0], [1, 1]]],
      [[2, 6, 6, 8], [1, 1, 8, 3], 1, [[0, 0], [0, 0]]],
      [[1, 5, 5, 2], [5, 5, 2, 2], 1, [[2, 2], [2, 2]]],
    ];
    for (const [xs, ws, stride, pad, chunk] of cases) {
      const err = tf.tidy(() => {
        const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
        const x = tf.tensor4d(Float32Array.from({ length: n(xs) }, (_, i) => Math.sin(i * 0.7)), xs as [number, number, number, number]);
        const w = tf.tensor4d(Float32Array.from({ length: n(ws) }, (_, i) => Math.cos(i * 0.3)), ws as [number, number, number, number]);
        const want = tf.conv2d(x, w, stride, [[0, 0], pad[0], pad[1], [0, 0]]);
        const got = conv2d(x, w, stride, pad, chunk);
        expect(got.shape).toEqual(want.shape);
        return tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
      });
      console.log(`conv x[${xs}] w[${ws}] stride ${stride} pad ${JSON.stringify(pad)}${chunk ? ` band ${chunk}` : ""}: max abs error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-5);
    }
  });

  it.runIf(name === "wasm")("packed weights take their size once on the heap (unpacked: twice)", () => {
    const be = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array; _malloc(n: number): number; _free(p: number): void } };
    // where the next large allocation would go: the top of what is in use (free holes of 8 MB and more included)
    const top = () => {
      const p = be.wasm._malloc(8 << 20);
      be.wasm._free(p);
      return p;
    };
    const W = 12;
    const shape: [number, number] = [512, 1024]; // 2 MB each
    const bytes = W * 2 * 2 ** 20;
    const x = tf.ones([1, 512]) as tf.Tensor2D;
    const measure = (pack: boolean) => {
      const t0 = top();
      const ws: tf.Tensor[] = [];
      for (let i = 0; i < W; i++) {
        const w = tf.fill(shape, i + 1) as tf.Tensor2D;
        tf.matMul(x, w).dispose(); // XNNPACK packs w
        if (pack) expect(registry()!.get("wasm")!.release(w)).toBe(true);
        ws.push(w);
      }
      const grew = top() - t0;
      const y = tf.tidy(() => tf.stack(ws.map((w) => tf.mean(tf.matMul(x, w as tf.Tensor2D)))));
      const means = Array.from(y.dataSync());
      tf.dispose([...ws, y]);
      return { grew, means };
    };
    const unpacked = measure(false);
    const packed = measure(true);
    console.log(`${W} weights of 2 MB: the heap grew ${(unpacked.grew / 2 ** 20).toFixed(1)} MB unpacked, ${(packed.grew / 2 ** 20).toFixed(1)} MB packed`);
    expect(packed.means).toEqual(unpacked.means); // every product still right (each weight filled with i + 1: 512·(i + 1))
    expect(packed.means).toEqual(Array.from({ length: W }, (_, i) => 512 * (i + 1)));
    expect(unpacked.grew).toBeGreaterThan(1.9 * bytes);
    expect(packed.grew).toBeLessThan(1.25 * bytes);
    x.dispose();
  });
});
