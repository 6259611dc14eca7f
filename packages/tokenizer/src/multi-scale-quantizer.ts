/**
 * The multi-scale residual quantizer (paper §3.2, Algorithms 1 and 2;
 * `VectorQuantizer2` in FoundationVision/VAR `models/quant.py`). One codebook
 * is shared by all K scales. Encoding scale k (coarse to fine): area-downsample
 * what is still unexplained (f_rest) to pn_k × pn_k, take the nearest code of
 * every cell, bicubic-upsample the code map back to P × P, pass it through φ,
 * add it to f̂ and subtract it from f_rest. The last scale (pn = P) uses f_rest
 * itself, with no resampling.
 *
 * Notation: B batch, P latent side (= last patch_num), Cvae latent width,
 * pn the side of one scale, K scales, V codebook size, L = Σ pn².
 * Latents are NHWC (B, P, P, Cvae); indices are int32 (B, pn²), row-major.
 */
import { Embedding, Module, type Parameter, registerGradients, resize2d, stopGradient } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { checkPatchNums, type VqvaeConfig } from "./config.js";
import { VqvaeInputError } from "./errors.js";
import { makeQuantResi, type PhiSelector } from "./phi.js";

export interface QuantizerTrainOutput {
  /** Straight-through f̂: the value of f̂, the gradient of f (B, P, P, Cvae). */
  fHat: tf.Tensor4D;
  /** mean over scales of β·mse(sg(f̂), f) + mse(f̂, sg(f)), a scalar. */
  vqLoss: tf.Scalar;
  /** With `collect`: each scale's chosen codes, int32 (B·pn²), row-major per image (as the official idx_N). */
  indices?: tf.Tensor1D[];
  /** With `collect`: each scale's detached input to the nearest-code search (the residual f_rest, area-downsampled), (B·pn², Cvae). */
  inputs?: tf.Tensor2D[];
  /**
   * With `prefixes: n`: f̂ after each of the first n scales (B, P, P, Cvae),
   * straight-through to f's view at that scale: the value of f̂_k, the
   * gradient of up(down(f, pn_k)) (area down to pn_k, bicubic back to P).
   */
  prefixFHats?: tf.Tensor4D[];
}

export interface QuantizerTrainOptions {
  /** Also return every scale's codes and inputs (`indices`, `inputs`), for codebook statistics and restarts. */
  collect?: boolean;
  /**
   * Also return the partial sums f̂_1 … f̂_n of the first n scales
   * (`prefixFHats`), for a loss on what the first scales alone reconstruct.
   * An integer from 0 (default) to K − 1.
   */
  prefixes?: number;
}

export class MultiScaleQuantizer extends Module {
  /** EMA of codebook hits per scale (K, V); a buffer, updated only by distributed training. */
  readonly ema_vocab_hit_SV: Parameter;
  /** The φ convs (`quant_resi`). */
  readonly quant_resi: PhiSelector;
  /** The shared codebook (V, Cvae). */
  readonly embedding: Embedding;

  constructor(readonly config: VqvaeConfig) {
    super();
    this.ema_vocab_hit_SV = this.buffer("ema_vocab_hit_SV", [config.patchNums.length, config.vocabSize]);
    this.quant_resi = this.child("quant_resi", makeQuantResi(config));
    this.embedding = this.child("embedding", new Embedding(config.vocabSize, config.zChannels));
  }

  get patchNums(): readonly number[] {
    return this.config.patchNums;
  }

  /** φ of scale k of K, as a function (B, P, P, Cvae) -> (B, P, P, Cvae). */
  phi(k: number, K: number): (h: tf.Tensor4D) => tf.Tensor4D {
    const m = this.quant_resi.forScale(k, K);
    return (h) => m.forward(h);
  }

  /**
   * Nearest codebook entry of every row of z (N, Cvae) -> int32 (N): argmin
   * of |z|² + |e|² - 2·z·e (first index on ties), or with `using_znorm` argmax
   * of the cosine similarity. Never differentiated.
   */
  nearestCode(zNC: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const z = stopGradient(zNC);
      const e = stopGradient(this.embedding.weight.value) as tf.Tensor2D; // (V, Cvae)
      if (this.config.usingZnorm) {
        const unit = (x: tf.Tensor2D) => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12));
        return tf.argMax(tf.matMul(unit(z), unit(e), false, true), 1) as tf.Tensor1D;
      }
      const d = tf.add(tf.add(tf.sum(tf.square(z), 1, true), tf.sum(tf.square(e), 1)), tf.mul(tf.matMul(z, e, false, true), -2)); // (N, V)
      return tf.argMin(d, 1) as tf.Tensor1D;
    });
  }

  /** Codebook rows of a token map: int (B, pn²) -> (B, pn, pn, Cvae). */
  embed(idxBl: tf.Tensor): tf.Tensor4D {
    if (idxBl.rank !== 2) throw new VqvaeInputError(`token indices must be (B, pn²); got shape [${idxBl.shape}]`);
    const [B, l] = idxBl.shape;
    const pn = Math.round(Math.sqrt(l));
    if (pn * pn !== l) throw new VqvaeInputError(`token indices (B, pn²): ${l} tokens is not a square map`);
    return tf.tidy(() => tf.reshape(this.embedding.forward(idxBl), [B, pn, pn, this.config.zChannels]) as tf.Tensor4D);
  }

  /** Check f (B, P, P, Cvae) against patch_nums; returns P. */
  private checkLatent(f: tf.Tensor, patchNums: readonly number[]): number {
    checkPatchNums(patchNums);
    if (f.rank !== 4 || f.shape[3] !== this.config.zChannels) {
      throw new VqvaeInputError(`latent must be (B, P, P, ${this.config.zChannels}); got [${f.shape}]`);
    }
    const P = patchNums[patchNums.length - 1];
    if (f.shape[1] !== P || f.shape[2] !== P) {
      throw new VqvaeInputError(`the last of patch_nums [${patchNums}] must equal the latent side; latent is ${f.shape[1]}×${f.shape[2]}`);
    }
    return P;
  }

  /**
   * `f_to_idxBl_or_fhat`: quantize f (B, P, P, Cvae) scale by scale. Returns
   * each scale's indices (B, pn²), or with `toFHat` the accumulated f̂ after
   * each scale (B, P, P, Cvae).
   */
  fToIdxBlOrFHat(f: tf.Tensor4D, toFHat: boolean, patchNums: readonly number[] = this.patchNums): tf.Tensor[] {
    const P = this.checkLatent(f, patchNums);
    const K = patchNums.length;
    const [B, , , C] = f.shape;
    return tf.tidy(() => {
      let fRest = stopGradient(f) as tf.Tensor4D;
      let fHat = tf.zerosLike(fRest) as tf.Tensor4D;
      const out: tf.Tensor[] = [];
      patchNums.forEach((pn, k) => {
        const last = k === K - 1;
        const z = last ? fRest : resize2d(fRest, pn, pn, "area"); // (B, pn, pn, C)
        const idx = this.nearestCode(tf.reshape(z, [B * pn * pn, C]) as tf.Tensor2D);
        const idxBl = tf.reshape(idx, [B, pn * pn]);
        let h = this.embed(idxBl);
        if (!last) h = resize2d(h, P, P, "bicubic");
        h = this.phi(k, K)(h);
        fHat = tf.add(fHat, h);
        fRest = tf.sub(fRest, h);
        out.push(toFHat ? fHat : idxBl);
      });
      return out;
    });
  }

  /**
   * `embed_to_fhat` (all_to_max_scale): f̂ from every scale's code map
   * (B, pn_k, pn_k, Cvae), K = patch_nums of the config. Returns f̂ after every
   * scale, or only the last with `lastOne`.
   */
  embedToFHat(hs: tf.Tensor4D[], lastOne = false): tf.Tensor4D[] {
    const K = this.patchNums.length;
    const P = this.patchNums[K - 1];
    if (hs.length !== K) throw new VqvaeInputError(`expected ${K} scales (patch_nums [${this.patchNums}]), got ${hs.length}`);
    return tf.tidy(() => {
      const [B] = hs[0].shape;
      let fHat = tf.zeros([B, P, P, this.config.zChannels]) as tf.Tensor4D;
      const out: tf.Tensor4D[] = [];
      hs.forEach((h0, k) => {
        const h = k < K - 1 ? resize2d(h0, P, P, "bicubic") : h0;
        fHat = tf.add(fHat, this.phi(k, K)(h));
        if (!lastOne || k === K - 1) out.push(fHat);
      });
      return out;
    });
  }

  /** Check a list of token maps against the config's patch_nums; returns B. */
  checkIndices(indices: tf.Tensor[]): number {
    const pns = this.patchNums;
    if (!Array.isArray(indices) || indices.length !== pns.length) {
      throw new VqvaeInputError(`expected one index tensor per scale (${pns.length} for patch_nums [${pns}]), got ${indices?.length}`);
    }
    const B = indices[0].shape[0];
    indices.forEach((t, k) => {
      if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== pns[k] * pns[k]) {
        throw new VqvaeInputError(`indices of scale ${k} must be (${B}, ${pns[k] * pns[k]}) (pn = ${pns[k]}); got [${t.shape}]`);
      }
      if (t.dtype !== "int32") throw new VqvaeInputError(`indices of scale ${k} must be int32, got ${t.dtype}`);
    });
    return B;
  }

  /**
   * `idxBl_to_var_input`: the transformer's teacher-forcing input. For
   * k = 0 … K-2 accumulate φ(bicubic(embed(idx_k))) into f̂, area-downsample f̂
   * to pn_{k+1} and flatten; concatenated: (B, L - pn_0², Cvae).
   */
  idxBlToVarInput(indices: tf.Tensor[]): tf.Tensor3D {
    const B = this.checkIndices(indices);
    const pns = this.patchNums;
    const K = pns.length;
    const P = pns[K - 1];
    const C = this.config.zChannels;
    return tf.tidy(() => {
      let fHat = tf.zeros([B, P, P, C]) as tf.Tensor4D;
      const next: tf.Tensor[] = [];
      for (let k = 0; k < K - 1; k++) {
        fHat = tf.add(fHat, this.phi(k, K)(resize2d(this.embed(indices[k]), P, P, "bicubic")));
        const pn = pns[k + 1];
        next.push(tf.reshape(resize2d(fHat, pn, pn, "area"), [B, pn * pn, C]));
      }
      return tf.concat(next, 1) as tf.Tensor3D;
    });
  }

  /**
   * `get_next_autoregressive_input`, for sampling: add scale k's code map
   * h (B, pn_k, pn_k, Cvae) to f̂ (bicubic-upsampled and through φ; at the last
   * scale neither resampled), and return the new f̂ with the next scale's input,
   * f̂ area-downsampled to pn_{k+1} (at the last scale: a copy of f̂).
   * Caller owns all returned tensors; the inputs are not disposed.
   */
  nextAutoregressiveInput(k: number, K: number, fHat: tf.Tensor4D, h: tf.Tensor4D): { fHat: tf.Tensor4D; next: tf.Tensor4D } {
    const pns = this.patchNums;
    const P = pns[pns.length - 1];
    return tf.tidy(() => {
      if (k !== K - 1) {
        const f = tf.add(fHat, this.phi(k, K)(resize2d(h, P, P, "bicubic"))) as tf.Tensor4D;
        return { fHat: f, next: resize2d(f, pns[k + 1], pns[k + 1], "area") };
      }
      const f = tf.add(fHat, this.phi(k, K)(h)) as tf.Tensor4D;
      return { fHat: f, next: tf.clone(f) };
    });
  }

  /**
   * The official `VectorQuantizer2.forward`, the training forward. Quantizes a detached f
   * as `fToIdxBlOrFHat` does, with the codebook and φ differentiable, and
   * returns the straight-through f̂ (= sg(f̂ - f) + f: the value of f̂, the
   * gradient of f) with vq_loss = mean over scales of
   * β·mse(sg(f̂_k), f) + mse(f̂_k, sg(f)). Differentiate it with
   * `tf.variableGrads` / `tf.grads` (gradients are registered on first use).
   * With `collect`, also each scale's codes and inputs (not differentiated;
   * inside `tf.variableGrads`, `tf.keep` them to use them after).
   */
  forwardTrain(f: tf.Tensor4D, opts: QuantizerTrainOptions = {}): QuantizerTrainOutput {
    registerGradients();
    const P = this.checkLatent(f, this.patchNums);
    const pns = this.patchNums;
    const K = pns.length;
    const [B, , , C] = f.shape;
    const nPrefix = opts.prefixes ?? 0;
    if (!Number.isInteger(nPrefix) || nPrefix < 0 || nPrefix > K - 1) throw new RangeError(`prefixes must be an integer from 0 to ${K - 1} (the scales before the last), got ${nPrefix}`);
    return tf.tidy(() => {
      const fNoGrad = stopGradient(f);
      const prefixFHats: tf.Tensor4D[] = [];
      let fRest = fNoGrad;
      let fHat = tf.zerosLike(fNoGrad) as tf.Tensor4D;
      let vqLoss = tf.scalar(0);
      const indices: tf.Tensor1D[] = [];
      const inputs: tf.Tensor2D[] = [];
      pns.forEach((pn, k) => {
        const last = k === K - 1;
        const z = last ? fRest : resize2d(fRest, pn, pn, "area");
        const zN = tf.reshape(z, [B * pn * pn, C]) as tf.Tensor2D;
        const idx = this.nearestCode(zN);
        if (opts.collect) {
          indices.push(idx);
          inputs.push(stopGradient(zN) as tf.Tensor2D);
        }
        let h = this.embed(tf.reshape(idx, [B, pn * pn])); // differentiable in the codebook
        if (!last) h = resize2d(h, P, P, "bicubic");
        h = this.phi(k, K)(h);
        fHat = tf.add(fHat, h);
        if (k < nPrefix) {
          const view = resize2d(resize2d(f, pn, pn, "area"), P, P, "bicubic");
          prefixFHats.push(tf.add(stopGradient(tf.sub(fHat, view)), view) as tf.Tensor4D);
        }
        fRest = tf.sub(fRest, stopGradient(h));
        const commit = tf.mul(tf.mean(tf.squaredDifference(stopGradient(fHat), f)), this.config.beta);
        vqLoss = tf.add(vqLoss, tf.add(commit, tf.mean(tf.squaredDifference(fHat, fNoGrad))));
      });
      vqLoss = tf.mul(vqLoss, 1 / K);
      const ste = tf.add(stopGradient(tf.sub(fHat, fNoGrad)), f) as tf.Tensor4D;
      return { fHat: ste, vqLoss, ...(opts.collect ? { indices, inputs } : {}), ...(nPrefix > 0 ? { prefixFHats } : {}) };
    });
  }
}
