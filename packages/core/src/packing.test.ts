/**
 * Packed weights (`packForInference`, `packWhileLoading`): the layers
 * compute the same after packing, the unpacked copy is really gone where the
 * backend packs (wasm), nothing can read freed memory, and where the backend
 * does not pack (cpu, webgpu) packing changes nothing.
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { registerGradients } from "./gradients.js";
import { Module, ModuleList, toInternalLayout } from "./module.js";
import { Conv2d, Linear } from "./nn.js";
import { getWeightPacking, PackedWeightError } from "@nextscale/contract";
import { packedWeightCount, packForInference, packWhileLoading } from "./packing.js";

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

/** Deterministic values in PyTorch layout for every parameter (set through `transform` when given, as a load does). */
function init(net: Module, seed: number, transform?: ReturnType<typeof packWhileLoading>): void {
  for (const [, p] of net.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * 0.5);
    if (transform) transform.set(p, values);
    else p.setTorchHost(values);
  }
  transform?.done?.();
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
    const packing = getWeightPacking(tf.getBackend());
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.cos(i)), [2, 9, 9, 3]);
    const v = tf.tensor2d(Float32Array.from({ length: 5 * 24 }, (_, i) => Math.sin(i * 0.1)), [5, 24]);
    const plain = new Net();
    init(plain, 1);
    const want = run(plain, x, v);

    // packed as each weight is set (as a load with packWhileLoading does) and after all are set
    const early = new Net();
    init(early, 1, packWhileLoading(early));
    const late = new Net();
    init(late, 1);
    const expected = packing ? 7 : 0;
    expect(packForInference(late)).toBe(expected);
    console.log(`backend: ${tf.getBackend()}; weight packing ${packing ? "available" : "not offered"}; packed ${packedWeightCount(early)} and ${packedWeightCount(late)} weights`);
    expect(packedWeightCount(early)).toBe(expected);
    expect(packWhileLoading(early) === undefined).toBe(!packing);
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
      // every use but the product is refused, by name, at the kernel: reads, exports, other ops, gradients
      const w = early.lin.weight;
      await expect(w.value.data()).rejects.toThrow(PackedWeightError);
      expect(() => w.value.dataSync()).toThrow(/weight "lin.weight" is packed for inference/);
      expect(() => w.toTorch()).toThrow(PackedWeightError);
      expect(() => tf.add(w.value, 1)).toThrow(/cannot be used by Add/);
      expect(() => tf.matMul(v, w.value, false, false).dispose()).not.toThrow(); // its own product
      expect(() => tf.matMul(tf.ones([40, 2]), w.value, true, true)).toThrow(/cannot be used by BatchMatMul/);
      await expect(early.stateDict()).rejects.toThrow(PackedWeightError);
      expect(() => tf.grad((a: tf.Tensor) => tf.sum(early.lin.forward(a)))(v)).toThrow(/cannot be used under a gradient tape/);
      expect(early.lin.bias!.value.shape).toEqual([40]); // biases stay ordinary tensors
      expect(Array.from(await early.lin.bias!.value.data()).length).toBe(40);
      // setting a weight again (a new checkpoint) gives ordinary, unpacked values: packing is applied, never implied
      init(early, 2);
      expect(packedWeightCount(early)).toBe(0);
      const plain2 = new Net();
      init(plain2, 2);
      expect(packForInference(early)).toBe(7);
      const [a, b] = [run(early, x, v), run(plain2, x, v)];
      expect(Math.max(await maxAbs(a.img, b.img), await maxAbs(a.vec, b.vec))).toBeLessThanOrEqual(1e-6);
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

  it("loadStateDict({ transform: packWhileLoading(net) }) packs as it loads", async () => {
    const src = new Net();
    init(src, 3);
    const sd = await src.stateDict();
    const net = new Net();
    await net.loadStateDict(sd, { transform: packWhileLoading(net) });
    expect(packedWeightCount(net)).toBe(getWeightPacking(tf.getBackend()) ? 7 : 0);
    const x = tf.ones([1, 5, 5, 3]) as tf.Tensor4D;
    const v = tf.ones([2, 24]) as tf.Tensor2D;
    const [a, b] = [run(net, x, v), run(src, x, v)];
    expect(Math.max(await maxAbs(a.img, b.img), await maxAbs(a.vec, b.vec))).toBeLessThanOrEqual(1e-6);
    tf.dispose([a.img, a.vec, b.img, b.vec, x, v]);
    src.dispose();
    net.dispose();
  });
});
