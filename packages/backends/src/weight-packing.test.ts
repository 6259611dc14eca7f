/**
 * wasm weight packing (packing/wasm.ts): the start-up self test, the
 * convolution by matrix products that large packed filters run with, and
 * the memory it saves, measured on the WebAssembly heap. On other backends
 * there is no weight packing, which is checked too.
 */
import { getWeightPacking } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { backendFromEnv, backendInfo, initBackend } from "./index.js";
import type { WasmBackend } from "./kernels/wasm/backend-wasm.js";
import { conv2dByMatMul } from "./packing/conv2d-by-matmul.js";

/** conv2dByMatMul on tensors (it runs on tensor infos, as a kernel). */
function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, pad: [[number, number], [number, number]], chunk?: number): tf.Tensor4D {
  const matMul = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc;
  const attrs = { strides: stride, pad: [[0, 0], pad[0], pad[1], [0, 0]] as tf.backend_util.ExplicitPadding };
  const info = conv2dByMatMul(x, w, attrs, tf.backend() as unknown as WasmBackend, matMul, chunk);
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

describe("weight packing", async () => {
  const name = await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
  console.log(`backend: ${name}`);

  it("is offered on wasm, after its self-test, and only there", () => {
    const info = backendInfo();
    console.log(`weightPacking: ${info.weightPacking}${info.weightPackingNote ? ` (${info.weightPackingNote})` : ""}`);
    expect(info.weightPacking).toBe(name === "wasm");
    expect(getWeightPacking(name) !== undefined).toBe(name === "wasm");
  });

  it.runIf(name === "wasm")("convolution by matrix products equals tf.conv2d (kernels, strides, paddings, batches, bands)", () => {
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
        const warm = () => tf.matMul(x, w).dispose(); // XNNPACK packs w
        if (pack) expect(getWeightPacking("wasm")!.pack({ name: `w${i}`, tensor: w, warm })).toBe(true);
        else warm();
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
