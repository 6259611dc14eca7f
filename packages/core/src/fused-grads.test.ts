/**
 * The hand-written gradients of `geluTanh` and `LayerNorm` (one tape node
 * each while the tape records): the same gradient as autograd through the
 * plain ops (the formula they replace) and as central differences in
 * float64, the same forward values bit for bit with and without the tape,
 * and less memory held by the tape at the end of the forward.
 */
import { maxErr, randValues, tapeSavedBytes } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { GeluTanh } from "@nextscale/contract";
import { registerGradients } from "./gradients.js";
import { hasFusedKernel } from "./kernels/fused-op.js";
import { geluTanh, LayerNorm } from "./nn.js";

// Deterministic inputs: a counter-based hash in [lo, hi).
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, lo = -1, hi = 1) => tf.tensor(randValues(numel(shape), seed, lo, hi), shape);

// The formulas the custom gradients replace, as they were (autograd differentiates them op by op).
function geluOld(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const c2 = 2 * Math.sqrt(2 / Math.PI);
    const z2 = tf.mul(c2, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))));
    return tf.mul(x, tf.sigmoid(z2));
  });
}
function layerNormOld(x: tf.Tensor, eps: number, w?: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
    if (w && b) y = tf.add(tf.mul(y, w), b);
    return y;
  });
}

/** Gradients of sum(wt · f()) with respect to `vars`, in their order, read back. */
async function gradsOf(f: () => tf.Tensor, vars: tf.Variable[], wt: tf.Tensor): Promise<Float32Array[]> {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(wt, f())) as tf.Scalar, vars);
  const out = await Promise.all(vars.map(async (v) => (await grads[v.name].data()) as Float32Array));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}


/** Central differences of a float64 loss at every element of `x` (h = 1e-6). */
function centralDiff(loss: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Float64Array.from(x);
    p[i] = x[i] + h;
    const up = loss(p);
    p[i] = x[i] - h;
    g[i] = (up - loss(p)) / (2 * h);
  }
  return g;
}


/**
 * Memory at the end of a recorded forward of `f`: tf.memory().numBytes (it
 * counts every tensor handle, so a kept clone counts again) minus before, and
 * the unique bytes of the new buffers the tape keeps.
 */
function heldByForward(f: () => tf.Tensor, vars: tf.Variable[], wt: tf.Tensor): { numBytes: number; tapeBytes: number } {
  let numBytes = 0;
  let tapeBytes = 0;
  const { value, grads } = tf.variableGrads(() => {
    const before = tf.memory().numBytes;
    const y = f();
    const loss = tf.sum(tf.mul(wt, y)) as tf.Scalar;
    numBytes = tf.memory().numBytes - before;
    tapeBytes = tapeSavedBytes([...vars, wt]);
    return loss;
  }, vars);
  tf.dispose([value, ...Object.values(grads)]);
  return { numBytes, tapeBytes };
}

/** The forward values of `f` with the tape recording (inside tf.variableGrads) and without. */
async function forwardTapedAndPlain(f: () => tf.Tensor, vars: tf.Variable[]): Promise<{ taped: Float32Array; plain: Float32Array }> {
  let kept: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const y = f();
    kept = tf.keep(y);
    return tf.sum(y) as tf.Scalar;
  }, vars);
  tf.dispose([value, ...Object.values(grads)]);
  const taped = ((await kept!.data()) as Float32Array).slice();
  kept!.dispose();
  const yp = tf.tidy(f);
  const plain = ((await yp.data()) as Float32Array).slice();
  yp.dispose();
  return { taped, plain };
}

const C2 = 2 * Math.sqrt(2 / Math.PI);
const gelu64 = (x: number) => x / (1 + Math.exp(-C2 * (x + 0.044715 * x * x * x)));

/** LayerNorm over rows of width `C` in float64, with optional affine weight and bias. */
function layerNorm64(x: Float64Array, C: number, eps: number, w?: Float64Array, b?: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / C; r++) {
    let m = 0;
    for (let j = 0; j < C; j++) m += x[r * C + j];
    m /= C;
    let v = 0;
    for (let j = 0; j < C; j++) v += (x[r * C + j] - m) ** 2;
    const s = Math.sqrt(v / C + eps);
    for (let j = 0; j < C; j++) {
      const n = (x[r * C + j] - m) / s;
      y[r * C + j] = w && b ? n * w[j] + b[j] : n;
    }
  }
  return y;
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

function newLayerNorm(C: number, eps: number, affine: boolean, seed: number): LayerNorm {
  const ln = new LayerNorm(C, eps, affine);
  if (affine) {
    ln.weight!.setInternal(rand([C], seed, 0.5, 1.5));
    ln.bias!.setInternal(rand([C], seed + 1, -0.5, 0.5));
  }
  return ln;
}

describe("hand-written gradients of geluTanh and LayerNorm", () => {
  beforeAll(() => registerGradients());

  it("geluTanh: the gradient of the plain formula and central differences (float64)", async () => {
    const shape = [2, 5, 64];
    const x = tf.variable(rand(shape, 1, -4, 4));
    const wt = rand(shape, 2);
    const [custom] = await gradsOf(() => geluTanh(x), [x], wt);
    const [old] = await gradsOf(() => geluOld(x), [x], wt);
    const a = maxErr(custom, old);
    console.log(`[fused-grads] geluTanh (2,5,64) vs autograd of the plain ops: max abs err ${a.err.toExponential(2)} (scale ${a.scale.toFixed(3)}, ${tf.getBackend()})`);
    expect(a.err).toBeLessThan(1e-5 * a.scale);

    // small case against float64 central differences
    const xs = tf.variable(rand([3, 8], 3, -4, 4));
    const ws = rand([3, 8], 4);
    const [g] = await gradsOf(() => geluTanh(xs), [xs], ws);
    const x64 = Float64Array.from(await xs.data());
    const w64 = Float64Array.from(await ws.data());
    const fd = centralDiff((p) => dot(w64, Array.from(p, gelu64)), x64);
    const b = maxErr(g, fd);
    console.log(`[fused-grads] geluTanh (3,8) vs float64 central differences: max abs err ${b.err.toExponential(2)} (scale ${b.scale.toFixed(3)})`);
    expect(b.err).toBeLessThan(1e-5 * b.scale);
    tf.dispose([x, wt, xs, ws]);
  });

  for (const affine of [false, true]) {
    const name = affine ? "affine" : "no affine";
    it(`LayerNorm (${name}): the gradient of the plain formula and central differences (float64)`, async () => {
      const C = 64;
      const eps = 1e-6;
      const ln = newLayerNorm(C, eps, affine, 10);
      const vars = (x: tf.Variable) => (affine ? [x, ln.weight!.value, ln.bias!.value] : [x]);
      const shape = [2, 5, C];
      const x = tf.variable(tf.tidy(() => tf.add(tf.mul(rand(shape, 5), 3), rand([2, 5, 1], 6))));
      const wt = rand(shape, 7);
      const custom = await gradsOf(() => ln.forward(x), vars(x), wt);
      const old = await gradsOf(() => layerNormOld(x, eps, ln.weight?.value, ln.bias?.value), vars(x), wt);
      for (const [k, what] of ["x", "weight", "bias"].slice(0, custom.length).entries()) {
        const e = maxErr(custom[k], old[k]);
        console.log(`[fused-grads] LayerNorm ${name} (2,5,64) d${what} vs autograd of the plain ops: max abs err ${e.err.toExponential(2)} (scale ${e.scale.toFixed(3)}, ${tf.getBackend()})`);
        expect(e.err).toBeLessThan(1e-5 * e.scale);
      }

      // small case against float64 central differences, in x (and in weight and bias)
      const c = 8;
      const lns = newLayerNorm(c, eps, affine, 20);
      const xs = tf.variable(tf.tidy(() => tf.add(tf.mul(rand([3, c], 8), 2), 0.5)));
      const ws = rand([3, c], 9);
      const g = await gradsOf(() => lns.forward(xs), affine ? [xs, lns.weight!.value, lns.bias!.value] : [xs], ws);
      const x64 = Float64Array.from(await xs.data());
      const w64 = Float64Array.from(await ws.data());
      const wa = affine ? Float64Array.from(await lns.weight!.value.data()) : undefined;
      const ba = affine ? Float64Array.from(await lns.bias!.value.data()) : undefined;
      const fds = [centralDiff((p) => dot(w64, layerNorm64(p, c, eps, wa, ba)), x64)];
      if (wa && ba) {
        fds.push(centralDiff((p) => dot(w64, layerNorm64(x64, c, eps, p, ba)), wa));
        fds.push(centralDiff((p) => dot(w64, layerNorm64(x64, c, eps, wa, p)), ba));
      }
      for (const [k, fd] of fds.entries()) {
        const e = maxErr(g[k], fd);
        console.log(`[fused-grads] LayerNorm ${name} (3,8) d${["x", "weight", "bias"][k]} vs float64 central differences: max abs err ${e.err.toExponential(2)} (scale ${e.scale.toFixed(3)})`);
        expect(e.err).toBeLessThan(1e-5 * e.scale);
      }
      tf.dispose([x, wt, xs, ws]);
      ln.dispose?.();
    });
  }

  it("the forward under the tape is bit-identical to the forward without it (and to the old formula)", async () => {
    const x = tf.variable(rand([2, 5, 64], 11, -4, 4));
    const g = await forwardTapedAndPlain(() => geluTanh(x), [x]);
    expect(g.taped).toEqual(g.plain);
    const old = tf.tidy(() => geluOld(x));
    if (hasFusedKernel(GeluTanh)) {
      // the backend's GeluTanh kernel (one pass; its exp vectorised apart from its Sigmoid kernel's): close, not bit for bit
      const e = maxErr(g.plain, (await old.data()) as Float32Array);
      console.log(`[fused-grads] geluTanh on ${tf.getBackend()}'s GeluTanh kernel vs the plain ops: max abs err ${e.err.toExponential(2)} (scale ${e.scale.toFixed(3)})`);
      expect(e.err).toBeLessThan(1e-6 * e.scale);
    } else expect(g.plain).toEqual(await old.data());
    for (const affine of [false, true]) {
      const ln = newLayerNorm(64, 1e-5, affine, 12);
      const vars = affine ? [x, ln.weight!.value, ln.bias!.value] : [x];
      const l = await forwardTapedAndPlain(() => ln.forward(x), vars);
      expect(l.taped).toEqual(l.plain);
      const lo = tf.tidy(() => layerNormOld(x, 1e-5, ln.weight?.value, ln.bias?.value));
      expect(l.plain).toEqual(await lo.data());
      lo.dispose();
    }
    tf.dispose([x, old]);
  });

  it("the tape holds less at the end of the forward than with the plain formula", () => {
    const shape = [2, 5, 64];
    const x = tf.variable(rand(shape, 13, -4, 4));
    const wt = rand(shape, 14);
    const ln = newLayerNorm(64, 1e-5, true, 15);
    const lnBare = newLayerNorm(64, 1e-5, false, 0);
    const lnVars = [x, ln.weight!.value, ln.bias!.value];
    const cases: [string, () => tf.Tensor, () => tf.Tensor, tf.Variable[]][] = [
      ["geluTanh", () => geluTanh(x), () => geluOld(x), [x]],
      ["LayerNorm no affine", () => lnBare.forward(x), () => layerNormOld(x, 1e-5), [x]],
      ["LayerNorm affine", () => ln.forward(x), () => layerNormOld(x, 1e-5, ln.weight!.value, ln.bias!.value), lnVars],
    ];
    for (const [name, fNew, fOld, vars] of cases) {
      const n = heldByForward(fNew, vars, wt);
      const o = heldByForward(fOld, vars, wt);
      console.log(
        `[fused-grads] ${name} (2,5,64; one tensor ${numel(shape) * 4} B): tf.memory().numBytes held at the end of the forward ${o.numBytes} -> ${n.numBytes} B; ` +
          `unique bytes of new buffers the tape keeps ${o.tapeBytes} -> ${n.tapeBytes} B (${tf.getBackend()})`,
      );
      expect(n.numBytes).toBeLessThan(o.numBytes);
      expect(n.tapeBytes).toBeLessThan(o.tapeBytes);
    }
    tf.dispose([x, wt]);
  });

  it("leaves no tensors behind", () => {
    const x = tf.variable(rand([2, 5, 64], 16));
    const ln = newLayerNorm(64, 1e-5, true, 17);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(ln.forward(geluTanh(x))) as tf.Scalar, [x, ln.weight!.value, ln.bias!.value]);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
