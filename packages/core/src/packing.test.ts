/**
 * Packed weights (`Module.packForInference`): the layers compute the same
 * after packing, the unpacked copy is really gone where the backend packs
 * (wasm), nothing can read freed memory, and where the backend does not
 * pack (cpu, webgpu) packing changes nothing.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { registerGradients } from "./gradients.js";
import { Module, ModuleList, toInternalLayout } from "./module.js";
import { Conv2d, Linear } from "./nn.js";
import { PackedWeightError, weightPacking } from "./packing.js";

class Net extends Module {
  // 5.3 MB: above wasm's 4 MB limit for keeping XNNPACK's convolution, so it runs as im2col + matMul there
  big = this.child("big", new Conv2d(384, 384, 3, 1, 1));
  lin = this.child("lin", new Linear(24, 40));
  linNoBias = this.child("lin_nb", new Linear(40, 8, false));
  convs = this.child(
    "convs",
    new ModuleList([new Conv2d(3, 16, 3, 1, 1), new Conv2d(16, 8, 3, 2, 0), new Conv2d(8, 8, 1), new Conv2d(8, 4, [1, 3], 1, [0, 1])]),
  );
}

/** Deterministic values in PyTorch layout for every parameter. */
function init(net: Module, seed: number): void {
  for (const [, p] of net.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    p.setTorchHost(Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * 0.5));
  }
}

function run(net: Net, x: tf.Tensor4D, v: tf.Tensor2D): { img: tf.Tensor; vec: tf.Tensor } {
  return tf.tidy(() => {
    let h = x;
    for (const c of net.convs.items) h = c.forward(h);
    const wide = tf.tile(h, [1, 1, 1, 96]) as tf.Tensor4D; // 4 -> 384 channels
    return { img: tf.concat([h, tf.slice(net.big.forward(wide), [0, 0, 0, 0], [-1, -1, -1, 8])], 3), vec: net.linNoBias.forward(net.lin.forward(v)) };
  });
}

registerGradients();

/** Max |a − b|, read asynchronously (webgpu in Node cannot read synchronously). */
async function maxAbs(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const m = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await m.data())[0];
  m.dispose();
  return v;
}

describe("host layout", () => {
  it("setTorchHost equals setTorch for every layout", async () => {
    const conv = new Conv2d(3, 5, [2, 3], 1, 0);
    const lin = new Linear(7, 6);
    for (const [, p] of [...conv.namedParameters(), ...lin.namedParameters()]) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i);
      p.setTorchHost(data);
      const viaHost = await p.value.data();
      p.setTorch(tf.tensor(data, [...p.shape]));
      expect(Array.from(await p.value.data())).toEqual(Array.from(viaHost));
    }
    const d = toInternalLayout(Int32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], "linear-io", new Int32Array(6));
    expect(Array.from(d)).toEqual([1, 4, 2, 5, 3, 6]);
    conv.dispose();
    lin.dispose();
  });
});

describe("packForInference", () => {
  it("the layers compute the same once packed; packed weights cannot be read, exported or trained", async () => {
    const packing = weightPacking();
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.cos(i)), [2, 9, 9, 3]);
    const v = tf.tensor2d(Float32Array.from({ length: 5 * 24 }, (_, i) => Math.sin(i * 0.1)), [5, 24]);
    const plain = new Net();
    init(plain, 1);
    const want = run(plain, x, v);

    // packed before the weights are set (as loadStateDict({ pack: true }) does) and after
    const early = new Net().packForInference();
    init(early, 1);
    const late = new Net();
    init(late, 1);
    late.packForInference();
    const expected = packing ? 7 : 0;
    console.log(`backend: ${tf.getBackend()}; weight packing ${packing ? "available" : "not offered"}; packed ${early.packedWeights()} and ${late.packedWeights()} weights`);
    expect(early.packedWeights()).toBe(expected);
    expect(late.packedWeights()).toBe(expected);
    // fill the freed memory with NaN (allocations of the weights' sizes reuse it): a product that read
    // its unpacked weight again would now give NaN
    const junk = [...early.namedParameters(), ...late.namedParameters()].map(([, p]) => tf.fill([p.shape.reduce((a, b) => a * b, 1)], Number.NaN));
    for (const net of [early, late]) {
      for (let rep = 0; rep < 2; rep++) {
        const got = run(net, x, v);
        const e = Math.max(await maxAbs(got.img, want.img), await maxAbs(got.vec, want.vec));
        console.log(`packed vs plain (run ${rep + 1}): max abs error ${e.toExponential(2)}`);
        expect(e).toBeLessThanOrEqual(1e-6);
        tf.dispose([got.img, got.vec]);
      }
    }

    if (packing) {
      expect(() => early.lin.weight.value).toThrow(PackedWeightError);
      expect(() => early.lin.weight.toTorch()).toThrow(/packed for inference/);
      await expect(early.stateDict()).rejects.toThrow(PackedWeightError);
      expect(() => tf.grad((a: tf.Tensor) => tf.sum(early.lin.forward(a)))(v)).toThrow(/gradients need its unpacked values/);
      expect(early.lin.bias!.value.shape).toEqual([40]); // biases stay ordinary tensors
      // setting a weight again (a new checkpoint) packs the new values
      init(early, 2);
      const plain2 = new Net();
      init(plain2, 2);
      const [a, b] = [run(early, x, v), run(plain2, x, v)];
      expect(Math.max(await maxAbs(a.img, b.img), await maxAbs(a.vec, b.vec))).toBeLessThanOrEqual(1e-6);
      expect(early.packedWeights()).toBe(7);
      tf.dispose([a.img, a.vec, b.img, b.vec]);
      plain2.dispose();
    } else {
      // nothing to pack on this backend: the weights stay readable and trainable
      expect((await early.stateDict()).size).toBe(13); // 7 weights and 6 biases
      expect(tf.grad((a: tf.Tensor) => tf.sum(early.lin.forward(a)))(v).shape).toEqual([5, 24]);
    }
    tf.dispose(junk);
    const before = tf.memory().numTensors;
    for (const net of [plain, early, late]) net.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
    tf.dispose([x, v, want.img, want.vec]);
  });

  it("loadStateDict({ pack: true }) packs as it loads", async () => {
    const src = new Net();
    init(src, 3);
    const sd = await src.stateDict();
    const net = new Net();
    await net.loadStateDict(sd, { pack: true });
    expect(net.packedWeights()).toBe(weightPacking() ? 7 : 0);
    const x = tf.ones([1, 5, 5, 3]) as tf.Tensor4D;
    const v = tf.ones([2, 24]) as tf.Tensor2D;
    const [a, b] = [run(net, x, v), run(src, x, v)];
    expect(Math.max(await maxAbs(a.img, b.img), await maxAbs(a.vec, b.vec))).toBeLessThanOrEqual(1e-6);
    tf.dispose([a.img, a.vec, b.img, b.vec, x, v]);
    src.dispose();
    net.dispose();
  });
});
