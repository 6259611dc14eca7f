import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { GRADIENT_KERNELS, registerGradients, stopGradient } from "./gradients.js";

// Deterministic inputs: a counter-based hash in [-1, 1).
function rand(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 7, 0x85ebca77)) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x ^= x >>> 12;
    v[i] = lo + ((x >>> 0) / 2 ** 32) * (hi - lo);
  }
  return tf.tensor(v, shape);
}

/**
 * Check tf.grads of sum(w · f(xs)) against central differences in every
 * element of every input (the inputs are small).
 */
async function checkGrad(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], eps = 1e-2): Promise<number> {
  const w = tf.tidy(() => rand(f(...xs).shape, 99));
  const loss = (...ys: tf.Tensor[]) => tf.sum(tf.mul(w, f(...ys))) as tf.Scalar;
  const grads = tf.grads(loss)(xs);
  let worst = 0;
  for (const [k, x] of xs.entries()) {
    const g = await grads[k].data();
    const base = await x.data();
    for (let i = 0; i < base.length; i++) {
      const at = async (d: number) => {
        const p = Float32Array.from(base);
        p[i] += d;
        const xi = tf.tensor(p, x.shape);
        const l = tf.tidy(() => loss(...xs.map((y, j) => (j === k ? xi : y))));
        const [v] = await l.data();
        tf.dispose([xi, l]);
        return v;
      };
      const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      const err = Math.abs(g[i] - fd) / Math.max(1, Math.abs(fd));
      worst = Math.max(worst, err);
    }
  }
  tf.dispose([w, ...grads]);
  return worst;
}

interface Case {
  kernels: string[];
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  inputs: () => tf.Tensor[];
}

const pos = (shape: number[], seed: number) => rand(shape, seed, 0.5, 2);
const CASES: Record<string, Case> = {
  "add/sub/mul/div with broadcasting": {
    kernels: ["Add", "Sub", "Multiply", "RealDiv", "Neg"],
    f: (a, b) => tf.neg(tf.div(tf.sub(tf.add(a, b), tf.mul(a, b)), tf.add(b, 3))),
    inputs: () => [rand([2, 3, 4], 1), rand([3, 1], 2)],
  },
  "squaredDifference, maximum, minimum": {
    kernels: ["SquaredDifference", "Maximum", "Minimum"],
    f: (a, b) => tf.add(tf.squaredDifference(a, b), tf.mul(tf.maximum(a, b), tf.minimum(a, tf.mul(b, 0.3)))),
    inputs: () => [rand([3, 4], 3), rand([4], 4)],
  },
  pow: { kernels: ["Pow"], f: (a, b) => tf.pow(a, b), inputs: () => [pos([2, 3], 5), rand([3], 6)] },
  "unary from input": {
    kernels: ["Square", "Sqrt", "Rsqrt", "Log", "Abs", "Erf", "Relu"],
    f: (x) => tf.addN([tf.square(x), tf.sqrt(x), tf.rsqrt(x), tf.log(x), tf.abs(tf.sub(x, 1)), tf.erf(x), tf.relu(tf.sub(x, 1.1))]),
    inputs: () => [pos([3, 5], 7)],
  },
  "unary from output": {
    kernels: ["Exp", "Sigmoid", "Tanh", "Identity", "Cast", "AddN"],
    f: (x) => tf.addN([tf.exp(x), tf.sigmoid(x), tf.tanh(x), tf.clone(x), tf.cast(x, "float32")]),
    inputs: () => [rand([4, 3], 8)],
  },
  clip: { kernels: ["ClipByValue"], f: (x) => tf.clipByValue(x, -0.5, 0.5), inputs: () => [rand([20], 9)] },
  leakyRelu: { kernels: ["LeakyRelu"], f: (x) => tf.leakyRelu(x, 0.2), inputs: () => [rand([20], 15)] },
  "softmax, logSoftmax (composite)": {
    kernels: ["Softmax"],
    f: (x) => tf.add(tf.softmax(x), tf.logSoftmax(x)),
    inputs: () => [rand([3, 5], 10)],
  },
  where: {
    kernels: ["Select", "Greater"],
    f: (a, b) => tf.where(tf.greater(a, b), a, tf.mul(b, 2)),
    inputs: () => [rand([12], 11), rand([12], 12)],
  },
  "comparisons, logic and rounding (zero gradients)": {
    kernels: ["GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalNot", "Sign", "Floor", "Ceil", "Round"],
    f: (a, b) => {
      const m = tf.logicalOr(tf.logicalAnd(tf.greaterEqual(a, b), tf.lessEqual(a, 0.9)), tf.logicalNot(tf.notEqual(tf.less(a, b), tf.equal(a, 0.5))));
      const r = tf.addN([tf.sign(a), tf.floor(tf.mul(a, 3)), tf.ceil(tf.mul(b, 3)), tf.round(tf.mul(a, 3))]);
      return tf.mul(tf.add(a, r), tf.cast(m, "float32"));
    },
    // away from every step, so that central differences see a constant there
    inputs: () => [tf.tensor1d([0.1, 0.45, -0.2, 0.8, -0.75, 0.6, 0.25, -0.4]), tf.tensor1d([0.3, 0.2, -0.5, 0.1, -0.3, 0.95, 0.05, 0.2])],
  },
  "matMul, all transposes, broadcast batch": {
    kernels: ["BatchMatMul"],
    f: (a, b) =>
      tf.addN([
        tf.matMul(a, b),
        tf.matMul(tf.transpose(a, [0, 2, 1]), b, true, false),
        tf.matMul(a, tf.transpose(b, [0, 2, 1]), false, true),
        tf.matMul(tf.transpose(a, [0, 2, 1]), tf.transpose(b, [0, 2, 1]), true, true),
        tf.matMul(a, tf.broadcastTo(tf.slice(b, [0, 0, 0], [1, 3, 2]), [2, 3, 2])),
      ]),
    inputs: () => [rand([2, 4, 3], 13), rand([2, 3, 2], 14)],
  },
  "shape ops": {
    kernels: ["Reshape", "ExpandDims", "Transpose", "Tile"],
    f: (x) => tf.add(tf.transpose(tf.reshape(tf.squeeze(tf.expandDims(x, 1), [1]), [3, 2, 2]), [2, 0, 1]), tf.reshape(tf.tile(tf.slice(x, [0, 0], [1, 4]), [1, 3]), [2, 3, 2])),
    inputs: () => [rand([3, 4], 15)],
  },
  "slice, pad": {
    kernels: ["Slice", "PadV2"],
    f: (x) => tf.pad(tf.slice(x, [1, 0, 2], [2, -1, 2]), [[0, 1], [2, 0], [1, 1]], 0.5),
    inputs: () => [rand([3, 2, 5], 16)],
  },
  "concat, stack, split, unstack": {
    kernels: ["Concat", "Pack", "SplitV", "Unpack"],
    f: (a, b) => {
      const [p, q] = tf.split(tf.concat([a, b], 1), [2, 3], 1);
      const [r, s] = tf.unstack(tf.stack([p, tf.slice(q, [0, 0], [-1, 2])], 2), 2);
      return tf.mul(r, s);
    },
    inputs: () => [rand([3, 2], 17), rand([3, 3], 18)],
  },
  "sum, mean, max": {
    kernels: ["Sum", "Mean", "Max"],
    f: (x) => tf.add(tf.addN([tf.sum(x, 1), tf.mean(x, [1], false), tf.max(x, 1)]), tf.sum(tf.mean(x, 0, true))),
    inputs: () => [rand([3, 4], 19)],
  },
  "gather (axes 0 and 1, repeated and 2-D indices), oneHot, argMin": {
    kernels: ["GatherV2", "OneHot", "ArgMin", "ArgMax", "ZerosLike", "OnesLike"],
    f: (x) => {
      const flat = (t: tf.Tensor, n = -1) => tf.reshape(t, [n]);
      return [
        flat(tf.gather(x, tf.tensor2d([[0, 2], [2, 2]], [2, 2], "int32"), 0)),
        tf.slice(flat(tf.gather(x, tf.tensor1d([1, 0, 1, 1], "int32"), 1)), [0], [8]),
        tf.mul(tf.sum(tf.cast(tf.oneHot(tf.argMin(x, 1), 2), "float32")), flat(tf.sum(tf.zerosLike(x)), 1)),
        flat(tf.sum(tf.cast(tf.argMax(x, 0), "float32")), 1),
        tf.onesLike(tf.slice(flat(x), [0], [1])),
      ].reduce((p, q) => tf.add(p, q));
    },
    inputs: () => [rand([3, 2], 20)],
  },
  "conv2d: pad 1, explicit pad + stride 2, same": {
    kernels: ["Conv2D"],
    f: (x, w) => {
      const conv = (stride: number, pad: "same" | number | [[0, 0], [number, number], [number, number], [0, 0]]) =>
        tf.slice(tf.reshape(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [-1]), [0], [24]);
      return tf.addN([
        conv(1, 1),
        conv(2, [
          [0, 0],
          [0, 1],
          [0, 1],
          [0, 0],
        ]),
        conv(2, "same"),
      ]);
    },
    inputs: () => [rand([2, 5, 5, 2], 21), rand([3, 3, 2, 3], 22)],
  },
};

describe("registerGradients", () => {
  beforeAll(() => registerGradients());

  it("every registered gradient has a finite-difference case", () => {
    const covered = new Set(Object.values(CASES).flatMap((c) => c.kernels));
    expect(GRADIENT_KERNELS.filter((k) => !covered.has(k))).toEqual([]);
    for (const k of GRADIENT_KERNELS) expect(tf.getGradient(k), k).toBeDefined();
  });

  for (const [name, c] of Object.entries(CASES)) {
    it(`matches central differences: ${name}`, async () => {
      const xs = c.inputs();
      const ran = new Set((await tf.profile(() => c.f(...xs))).kernelNames);
      expect(c.kernels.filter((k) => !ran.has(k)), "kernels the case claims but never runs").toEqual([]);
      const err = await checkGrad(c.f, xs);
      console.log(`[grad] ${name}: max rel err ${err.toExponential(2)} (${tf.getBackend()})`);
      expect(err).toBeLessThan(3e-3);
      tf.dispose(xs);
    });
  }

  it("matches directional finite differences at the sizes of @nextscale/backends' wasm products", async () => {
    // above its thresholds (1.5M multiply-adds for a single product, 1M per batch entry): too many
    // elements for the per-element check, so the gradient's projection on random directions
    const cases: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number[], number[]][] = [
      ["A·B", (a, b) => tf.matMul(a, b), [96, 128], [128, 128]],
      ["Aᵀ·Bᵀ", (a, b) => tf.matMul(a, b, true, true), [128, 96], [128, 128]],
      ["batched A·Bᵀ, shared B", (a, b) => tf.matMul(a, b, false, true), [2, 96, 128], [64, 128]],
      ["batched A·Bᵀ per entry", (a, b) => tf.matMul(a, b, false, true), [2, 128, 64], [2, 128, 64]],
    ];
    for (const [name, f, sa, sb] of cases) {
      const xs = [rand(sa, 30), rand(sb, 31)];
      const w = tf.tidy(() => rand(f(xs[0], xs[1]).shape, 99));
      const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, f(a, b))) as tf.Scalar;
      const grads = tf.grads(loss)(xs);
      let worst = 0;
      for (let k = 0; k < 2; k++) {
        const v = rand(xs[k].shape, 40 + k);
        const eps = 1; // the loss is linear in each input: central differences are exact at any step, a large one rounds least
        const read = async (t: tf.Tensor) => {
          const [x] = await t.data(); // async: webgpu in Node has no synchronous reads
          t.dispose();
          return x;
        };
        const at = (d: number) => read(tf.tidy(() => loss(...((k === 0 ? [tf.add(xs[0], tf.mul(v, d)), xs[1]] : [xs[0], tf.add(xs[1], tf.mul(v, d))]) as [tf.Tensor, tf.Tensor]))));
        const fd = ((await at(eps)) - (await at(-eps))) / (2 * eps);
        const an = await read(tf.tidy(() => tf.sum(tf.mul(grads[k], v))));
        worst = Math.max(worst, Math.abs(fd - an) / Math.max(1, Math.abs(an)));
        v.dispose();
      }
      console.log(`[grad] directional, ${name} ${JSON.stringify(sa)}·${JSON.stringify(sb)}: max rel err ${worst.toExponential(2)} (${tf.getBackend()})`);
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([w, ...xs, ...grads]);
    }
  });

  it("stopGradient passes values and blocks gradients", async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([1, 2, 3]);
    // d/dx [x·stop(x) + x] = stop(x) + 1, not 2x + 1
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, stopGradient(v)), v)))(x);
    expect(Array.from(await g.data())).toEqual([2, 3, 4]);
    const s = stopGradient(x);
    expect(Array.from(await s.data())).toEqual([1, 2, 3]);
    s.dispose();
    expect(x.isDisposed).toBe(false);
    expect(Array.from(await x.data())).toEqual([1, 2, 3]);
    tf.dispose([x, g]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
