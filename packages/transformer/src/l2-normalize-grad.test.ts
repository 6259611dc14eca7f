/**
 * The hand-written gradient of the attention's `l2Normalize` (F.normalize
 * over the head dim; one tape node while the tape records): the same
 * gradient as autograd through the plain ops and as float64 central
 * differences, PyTorch's gradient where the norm is below 1e-12, the same
 * forward values bit for bit with and without the tape, and less memory
 * held by the tape at the end of the forward.
 */
import { registerGradients } from "@nextscale/core";
import { maxErr, randValues, tapeSavedBytes } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { l2Normalize } from "./self-attention.js";

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, lo = -1, hi = 1) => tf.tensor(randValues(numel(shape), seed, lo, hi), shape);

/** The formula the custom gradient replaces, as it was. */
const l2Old = (t: tf.Tensor) => tf.tidy(() => tf.div(t, tf.maximum(tf.sqrt(tf.sum(tf.square(t), -1, true)), 1e-12)));

async function gradOf(f: () => tf.Tensor, x: tf.Variable, wt: tf.Tensor): Promise<Float32Array> {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(wt, f())) as tf.Scalar, [x]);
  const g = (await grads[x.name].data()) as Float32Array;
  tf.dispose([value, ...Object.values(grads)]);
  return g;
}


/** t / max(‖t‖, 1e-12) over rows of width c, in float64. */
function l2Normalize64(t: Float64Array, c: number): Float64Array {
  const y = new Float64Array(t.length);
  for (let r = 0; r < t.length / c; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += t[r * c + j] ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < c; j++) y[r * c + j] = t[r * c + j] / n;
  }
  return y;
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};


describe("l2Normalize's hand-written gradient", async () => {
  beforeAll(() => registerGradients());

  it("matches autograd of the plain ops (2,3,7,16) and float64 central differences (1,2,3,8)", async () => {
    const shape = [2, 3, 7, 16];
    const t = tf.variable(rand(shape, 1));
    const wt = rand(shape, 2);
    const custom = await gradOf(() => l2Normalize(t as unknown as tf.Tensor4D), t, wt);
    const old = await gradOf(() => l2Old(t), t, wt);
    const a = maxErr(custom, old);
    console.log(`[l2-grad] (2,3,7,16) vs autograd of the plain ops: max abs err ${a.err.toExponential(2)} (scale ${a.scale.toFixed(3)}, ${tf.getBackend()})`);
    expect(a.err).toBeLessThan(1e-5 * a.scale);

    const small = [1, 2, 3, 8];
    const ts = tf.variable(rand(small, 3, -2, 2));
    const ws = rand(small, 4);
    const g = await gradOf(() => l2Normalize(ts as unknown as tf.Tensor4D), ts, ws);
    const t64 = Float64Array.from(await ts.data());
    const w64 = Float64Array.from(await ws.data());
    const h = 1e-6;
    const fd = Array.from(t64, (_, i) => {
      const p = Float64Array.from(t64);
      p[i] += h;
      const up = dot(w64, l2Normalize64(p, 8));
      p[i] -= 2 * h;
      return (up - dot(w64, l2Normalize64(p, 8))) / (2 * h);
    });
    const b = maxErr(g, fd);
    console.log(`[l2-grad] (1,2,3,8) vs float64 central differences: max abs err ${b.err.toExponential(2)} (scale ${b.scale.toFixed(3)})`);
    expect(b.err).toBeLessThan(1e-5 * b.scale);
    tf.dispose([t, wt, ts, ws]);
  });

  it("below the 1e-12 norm the denominator is constant: g/1e-12, as PyTorch (rows of 1e-14 and of zeros)", async () => {
    // row 0 ordinary, row 1 of norm ~4e-14, row 2 all zeros (where the plain formula's sqrt gradient is NaN)
    const c = 16;
    const base = randValues(3 * c, 5);
    const vals = Float32Array.from(base, (v, i) => (i < c ? v : i < 2 * c ? v * 1e-14 : 0));
    const t = tf.variable(tf.tensor(vals, [1, 1, 3, c]));
    const wt = rand([1, 1, 3, c], 6);
    const g = await gradOf(() => l2Normalize(t as unknown as tf.Tensor4D), t, wt);
    const w = await wt.data();
    const eps32 = Math.fround(1e-12);
    let worst = 0;
    for (let i = c; i < 3 * c; i++) worst = Math.max(worst, Math.abs(g[i] - w[i] / eps32) / (Math.abs(w[i]) / eps32));
    console.log(`[l2-grad] rows below the norm 1e-12: max rel err against g/1e-12 ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
    // the tiny row agrees with autograd of the plain formula too (it is finite there)
    const old = await gradOf(() => l2Old(t), t, wt);
    const e = maxErr(g.subarray(0, 2 * c), old.subarray(0, 2 * c));
    expect(e.err).toBeLessThan(1e-5 * e.scale);
    tf.dispose([t, wt]);
  });

  it("the forward under the tape is bit-identical to the forward without it, and the tape holds less", async () => {
    const shape = [2, 3, 7, 16];
    const t = tf.variable(rand(shape, 7));
    const wt = rand(shape, 8);
    const f = () => l2Normalize(t as unknown as tf.Tensor4D);
    let kept: tf.Tensor | undefined;
    const r = tf.variableGrads(() => {
      const y = f();
      kept = tf.keep(y);
      return tf.sum(tf.mul(y, wt)) as tf.Scalar;
    }, [t]);
    tf.dispose([r.value, ...Object.values(r.grads)]);
    const taped = await kept!.data();
    const plain = tf.tidy(f);
    expect(taped).toEqual(await plain.data());
    const old = tf.tidy(() => l2Old(t));
    expect(await plain.data()).toEqual(await old.data());
    tf.dispose([kept!, plain, old]);

    const held = (fn: () => tf.Tensor) => {
      let numBytes = 0;
      let tapeBytes = 0;
      const { value, grads } = tf.variableGrads(() => {
        const before = tf.memory().numBytes;
        const loss = tf.sum(tf.mul(wt, fn())) as tf.Scalar;
        numBytes = tf.memory().numBytes - before;
        tapeBytes = tapeSavedBytes([t, wt]);
        return loss;
      }, [t]);
      tf.dispose([value, ...Object.values(grads)]);
      return { numBytes, tapeBytes };
    };
    const n = held(f);
    const o = held(() => l2Old(t));
    console.log(
      `[l2-grad] (2,3,7,16; one tensor ${numel(shape) * 4} B): tf.memory().numBytes held at the end of the forward ${o.numBytes} -> ${n.numBytes} B; ` +
        `unique bytes of new buffers the tape keeps ${o.tapeBytes} -> ${n.tapeBytes} B (${tf.getBackend()})`,
    );
    expect(n.numBytes).toBeLessThan(o.numBytes);
    expect(n.tapeBytes).toBeLessThan(o.tapeBytes);
    tf.dispose([t, wt]);
  });
});
