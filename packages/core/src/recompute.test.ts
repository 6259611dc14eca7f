/**
 * `recompute` (activation checkpointing): the gradients of a chain of
 * recomputed pieces equal plain autograd's, in the inputs and in the
 * variables the pieces read; the tape holds less at the end of the forward;
 * outside a tape the piece just runs; nothing is left behind.
 */
import { maxErr, randValues, tapeSavedBytes } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { registerGradients } from "./gradients.js";
import { geluTanh, LayerNorm } from "./nn.js";
import { recompute } from "./recompute.js";

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, lo = -1, hi = 1) => tf.tensor(randValues(numel(shape), seed, lo, hi), shape);

/** A residual MLP block: x + gelu(LN(x)·(1 + s) @ W1) @ W2, with a modulation s from outside. */
function makeBlock(C: number, seed: number) {
  const ln = new LayerNorm(C, 1e-6, true);
  ln.weight!.setInternal(rand([C], seed, 0.5, 1.5));
  ln.bias!.setInternal(rand([C], seed + 1, -0.2, 0.2));
  const w1 = tf.variable(rand([C, 4 * C], seed + 2, -0.3, 0.3));
  const w2 = tf.variable(rand([4 * C, C], seed + 3, -0.3, 0.3));
  const vars = [ln.weight!.value, ln.bias!.value, w1, w2];
  const f = ([x, s]: tf.Tensor[]) =>
    tf.tidy(() => {
      const h = tf.mul(ln.forward(x), tf.add(1, s));
      return tf.add(x, tf.matMul(geluTanh(tf.matMul(h as tf.Tensor2D, w1)) as tf.Tensor2D, w2));
    });
  return { f, vars, dispose: () => tf.dispose(vars) };
}

describe("recompute (activation checkpointing)", () => {
  beforeAll(() => registerGradients());

  it("three recomputed blocks: the gradients of plain autograd in the input, the modulation and every weight; less held by the tape", async () => {
    const C = 32;
    const blocks = [makeBlock(C, 10), makeBlock(C, 20), makeBlock(C, 30)];
    const x = tf.variable(rand([24, C], 1, -2, 2));
    const s = tf.variable(rand([1, C], 2, -0.5, 0.5));
    const wt = rand([24, C], 3);
    const vars = [x, s, ...blocks.flatMap((b) => b.vars)];
    const run = (re: boolean) => {
      let held = 0;
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => {
        let h: tf.Tensor = x;
        for (const b of blocks) h = re ? recompute(b.f, [h, s], b.vars) : b.f([h, s]);
        held = tapeSavedBytes(vars);
        return tf.sum(tf.mul(h, wt)) as tf.Scalar;
      }, vars);
      return { value, grads, held, before };
    };
    const plain = run(false);
    const re = run(true);
    const pv = (await plain.value.data())[0];
    const rv = (await re.value.data())[0];
    expect(rv).toBe(pv); // the same forward ops
    let worst = 0;
    for (const v of vars) {
      const e = maxErr(await re.grads[v.name].data(), await plain.grads[v.name].data());
      worst = Math.max(worst, e.err / e.scale);
    }
    console.log(
      `[recompute] 3 blocks (24×${C}, hidden ${4 * C}): loss ${pv} both ways; worst gradient error relative to its scale ${worst.toExponential(2)} over ${vars.length} variables; tape holds ${plain.held} B plain, ${re.held} B recomputed (${tf.getBackend()})`,
    );
    expect(worst).toBeLessThan(1e-6);
    expect(re.held).toBeLessThan(plain.held / 3);
    tf.dispose([plain.value, re.value, ...Object.values(plain.grads), ...Object.values(re.grads)]);
    expect(tf.memory().numTensors).toBe(plain.before);

    // outside a tape: the piece as it is, same values
    const direct = tf.tidy(() => blocks[0].f([x, s]));
    const viaRe = recompute(blocks[0].f, [x, s], blocks[0].vars);
    expect(await viaRe.data()).toEqual(await direct.data());
    tf.dispose([direct, viaRe, x, s, wt]);
    for (const b of blocks) b.dispose();
  });

  it("a variable the piece does not use gets a zero gradient, not an error", async () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]));
    const unused = tf.variable(tf.tensor1d([5, 6]));
    const { value, grads } = tf.variableGrads(() => tf.sum(recompute(([x]) => tf.mul(x, a), [tf.onesLike(a)], [a, unused])) as tf.Scalar, [a, unused]);
    expect(Array.from(await grads[a.name].data())).toEqual([1, 1, 1]);
    expect(Array.from(await grads[unused.name].data())).toEqual([0, 0]);
    tf.dispose([value, a, unused, ...Object.values(grads)]);
  });
});
