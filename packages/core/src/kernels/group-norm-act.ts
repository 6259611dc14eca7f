/**
 * `groupNorm`: `nn.GroupNorm` over NHWC input (statistics per image and
 * group of channels, biased variance), its affine weights, and optionally
 * SiLU on the result: the `Normalize` + `nonlinearity` pair that opens every
 * ResNet block of the VQ-VAE (FoundationVision/VAR models/basic_vae.py).
 * Its gradient is the backend's GroupNormActGrad kernel where it has one
 * (@nextscale/contract's training kernels), else the plain ops below.
 * Notation: B batch, H×W pixels, C channels in G groups.
 */
import * as tf from "@tensorflow/tfjs-core";
import { GroupNormAct, GroupNormActGrad, type GroupNormActAttrs } from "@nextscale/contract";
import { fusedOp, hasFusedKernel } from "./fused-op.js";

/** The normalised input (x − μ)/σ per (image, group), and 1/σ (B, 1, G, 1), as (B, HW, G, C/G). */
function normalise(x: tf.Tensor4D, groups: number, eps: number): { n: tf.Tensor; rstd: tf.Tensor } {
  const [B, H, W, C] = x.shape;
  const g = tf.reshape(x, [B, H * W, groups, C / groups]);
  const { mean, variance } = tf.moments(g, [1, 3], true);
  const rstd = tf.rsqrt(tf.add(variance, eps));
  return { n: tf.mul(tf.sub(g, mean), rstd), rstd };
}

/** The plain-ops version; without `gamma` and `beta`, no affine map (`nn.GroupNorm(affine=False)`). */
export function groupNormFallback(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D | null,
  beta: tf.Tensor1D | null,
  groups: number,
  eps: number,
  silu: boolean,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const g = tf.reshape(x, [B, H * W, groups, C / groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    const n = tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, eps))), [B, H, W, C]);
    const y = gamma && beta ? tf.add(tf.mul(n, gamma), beta) : n;
    return (silu ? tf.mul(y, tf.sigmoid(y)) : y) as tf.Tensor4D;
  });
}

const grad: tf.GradConfig = {
  kernelName: GroupNormAct,
  inputsToSave: ["x", "gamma", "beta"],
  gradFunc: (dy, [x, gamma, beta], attrs) => {
    const { groups, eps, silu } = attrs as unknown as GroupNormActAttrs;
    const d = dy as tf.Tensor;
    if (hasFusedKernel(GroupNormActGrad) && [d, x, gamma, beta].every((t) => t.dtype === "float32")) {
      // the backend's GroupNormActGrad computes all three at once (here, not in the lazy closures: tfjs runs
      // each of those in its own tidy, which would dispose the other two)
      const [dx, dgamma, dbeta] = tf.engine().runKernel(GroupNormActGrad, { x, gamma, beta, dy: d }, { groups, eps, silu }) as tf.Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    }
    const [B, H, W, C] = x.shape;
    const { n: ng, rstd } = normalise(x as tf.Tensor4D, groups, eps);
    const n = tf.reshape(ng, [B, H, W, C]);
    let g = dy as tf.Tensor; // dL/dy before SiLU: silu'(y) = σ(y)·(1 + y·(1 − σ(y)))
    if (silu) {
      const y = tf.add(tf.mul(n, gamma), beta);
      const s = tf.sigmoid(y);
      g = tf.mul(g, tf.mul(s, tf.add(1, tf.mul(y, tf.sub(1, s)))));
    }
    return {
      x: () => {
        // n = (x − μ)·r; dL/dx = r·(dn − mean(dn) − n·mean(dn·n)) over each (image, group)
        const dn = tf.reshape(tf.mul(g, gamma), [B, H * W, groups, C / groups]);
        const centred = tf.sub(dn, tf.mean(dn, [1, 3], true));
        return tf.reshape(tf.mul(tf.sub(centred, tf.mul(ng, tf.mean(tf.mul(dn, ng), [1, 3], true))), rstd), [B, H, W, C]);
      },
      gamma: () => tf.sum(tf.mul(g, n), [0, 1, 2]),
      beta: () => tf.sum(g, [0, 1, 2]),
    };
  },
};

/** x (B, H, W, C), gamma and beta (C) -> (B, H, W, C); SiLU applied after the affine map when `silu`. */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, eps: number, silu = false): tf.Tensor4D {
  const C = x.shape[3];
  if (x.rank !== 4 || gamma.rank !== 1 || beta.rank !== 1 || gamma.shape[0] !== C || beta.shape[0] !== C || C % groups !== 0) {
    throw new Error(
      `groupNorm: expected x (B, H, W, C) with C divisible by ${groups} groups, gamma and beta (C); got [${x.shape}], [${gamma.shape}], [${beta.shape}]`,
    );
  }
  return fusedOp<tf.Tensor4D, GroupNormActAttrs>(grad, { x, gamma, beta }, { groups, eps, silu }, () => groupNormFallback(x, gamma, beta, groups, eps, silu));
}
