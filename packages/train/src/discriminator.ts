/**
 * The optional VQGAN adversarial term of stage 1 (off by default): a
 * PatchGAN discriminator, the hinge losses and the adaptive weight, as
 * taming-transformers' `VQLPIPSWithDiscriminator` uses them (the official
 * VAR repository ships none of this; its tokenizer was trained with it).
 *
 * - `PatchDiscriminator`: pix2pix's `NLayerDiscriminator` (4×4 convs,
 *   stride 2 for the first `layers`, then two of stride 1; LeakyReLU 0.2;
 *   BatchNorm after every conv but the first and the last, whose convs carry
 *   no bias), with the same state-dict names (`main.0.weight`, `main.2.weight`,
 *   `main.3.weight` …) and initialisation (conv weights N(0, 0.02), norm
 *   weights N(1, 0.02), norm biases 0). Its BatchNorm always normalises with
 *   the batch's own statistics (training mode; the discriminator is never run
 *   for inference), so it holds no running averages.
 * - `hingeDLoss(real, fake)` = ½·(mean relu(1 − real) + mean relu(1 + fake));
 *   the generator's term is −mean(D(rec)).
 * - `adaptiveWeight(gNll, gGan, w)` = clamp(‖∇nll‖ / (‖∇gan‖ + 1e-4), 0, 1e4)·w,
 *   the gradients taken at the decoder's last layer (`decoder.conv_out.weight`).
 */
import { Conv2d, Module, stopGradient } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";

/** `nn.BatchNorm2d` in training mode over NHWC input: per-channel batch mean and biased variance. */
export class BatchNorm2d extends Module {
  readonly weight;
  readonly bias;
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param("weight", [channels]);
    this.bias = this.param("bias", [channels]);
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0, 1, 2], true);
      const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(y, this.weight.value), this.bias.value) as tf.Tensor4D;
    });
  }
}

/** Children under numeric names with gaps, as an `nn.Sequential` whose activations hold no weights. */
class Indexed extends Module {
  constructor(items: [number, Module][]) {
    super();
    for (const [i, m] of items) this.child(String(i), m);
  }
}

export interface DiscriminatorOptions {
  /** Input channels (default 3). */
  inChannels?: number;
  /** Width of the first conv (`ndf`, default 64). */
  ndf?: number;
  /** Stride-2 convs (`n_layers`, default 3). */
  layers?: number;
}

type Layer = { conv: Conv2d; norm?: BatchNorm2d; act: boolean };

/** The logit map's side of a `layers`-layer patch discriminator on images of side `s` (≤ 0: too small). */
export function patchOutputSide(s: number, layers: number): number {
  let side = s;
  for (let k = 0; k < layers; k++) side = Math.floor((side + 2 - 4) / 2) + 1;
  return side - 2; // two 4×4 convs of stride 1, padding 1
}

export class PatchDiscriminator extends Module {
  readonly main: Module;
  readonly inChannels: number;
  readonly ndf: number;
  readonly layers: number;
  private readonly stack: Layer[] = [];

  constructor(opts: DiscriminatorOptions = {}) {
    super();
    this.inChannels = opts.inChannels ?? 3;
    this.ndf = opts.ndf ?? 64;
    this.layers = opts.layers ?? 3;
    if (!(Number.isInteger(this.layers) && this.layers >= 1)) throw new Error(`discriminator layers must be a positive integer (got ${this.layers})`);
    if (!(Number.isInteger(this.ndf) && this.ndf >= 1)) throw new Error(`discriminator ndf must be a positive integer (got ${this.ndf})`);
    const items: [number, Module][] = [];
    let i = 0;
    const add = (cin: number, cout: number, stride: number, norm: boolean, act: boolean) => {
      const conv = new Conv2d(cin, cout, 4, stride, 1, !norm);
      items.push([i++, conv]);
      let bn: BatchNorm2d | undefined;
      if (norm) {
        bn = new BatchNorm2d(cout);
        items.push([i++, bn]);
      }
      if (act) i++; // LeakyReLU: an index, no weights
      this.stack.push({ conv, norm: bn, act });
    };
    const ndf = this.ndf;
    add(this.inChannels, ndf, 2, false, true);
    let mult = 1;
    for (let n = 1; n < this.layers; n++) {
      const prev = mult;
      mult = Math.min(2 ** n, 8);
      add(ndf * prev, ndf * mult, 2, true, true);
    }
    const prev = mult;
    mult = Math.min(2 ** this.layers, 8);
    add(ndf * prev, ndf * mult, 1, true, true);
    add(ndf * mult, 1, 1, false, false);
    this.main = this.child("main", new Indexed(items));
  }

  /** The side of the logit map for input images of side `s` (≤ 0: too small for this many layers). */
  outputSide(s: number): number {
    return patchOutputSide(s, this.layers);
  }

  /** Throw a clear error unless images of side `s` leave at least one logit. */
  checkImageSide(s: number): void {
    if (this.outputSide(s) < 1) {
      let most = 0;
      for (let l = 1; l <= this.layers; l++) if (patchOutputSide(s, l) >= 1) most = l;
      throw new Error(
        `a ${this.layers}-layer patch discriminator needs larger images than ${s}×${s}` +
          (most ? ` (at most ${most} layers at this size)` : " (images this small cannot be judged)"),
      );
    }
  }

  /** Initialise as taming-transformers' `weights_init` (conv N(0, 0.02), norm N(1, 0.02) and 0; conv biases U(±1/√fan_in)), seeded. */
  init(seed = 0): void {
    let n = 0;
    this.initParameters((name, p) => {
      const s = [...p.shape];
      const at = seed * 1000 + 500 + n++;
      const isNorm = this.stack.some((l) => l.norm && (l.norm.weight === p || l.norm.bias === p));
      if (isNorm) return name.endsWith("weight") ? tf.randomNormal(s, 1, 0.02, "float32", at) : tf.zeros(s);
      if (name.endsWith("weight")) return tf.randomNormal(s, 0, 0.02, "float32", at);
      const conv = this.stack.find((l) => l.conv.bias === p)!.conv;
      const b = 1 / Math.sqrt(conv.inChannels * 16);
      return tf.randomUniform(s, -b, b, "float32", at);
    });
  }

  /** (B, S, S, C) images in [−1, 1] -> (B, s, s, 1) patch logits. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x;
      for (const l of this.stack) {
        h = l.conv.forward(h);
        if (l.norm) h = l.norm.forward(h);
        if (l.act) h = tf.leakyRelu(h, 0.2);
      }
      return h;
    });
  }
}

/** ½·(mean relu(1 − real) + mean relu(1 + fake)): the discriminator's hinge loss. */
export function hingeDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.relu(tf.sub(1, logitsReal))), tf.mean(tf.relu(tf.add(1, logitsFake))))) as tf.Scalar);
}

/** −mean(D(rec)): the generator's adversarial loss. */
export function generatorLoss(logitsFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(logitsFake)) as tf.Scalar);
}

/** clamp(‖gNll‖ / (‖gGan‖ + 1e-4), 0, 1e4) · weight, as a scalar tensor (VQGAN's `calculate_adaptive_weight`). */
export function adaptiveWeight(gNll: tf.Tensor, gGan: tf.Tensor, weight: number): tf.Scalar {
  return tf.tidy(() => {
    const r = tf.div(tf.norm(gNll), tf.add(tf.norm(gGan), 1e-4));
    return tf.mul(tf.clipByValue(r, 0, 1e4), weight) as tf.Scalar;
  });
}

/**
 * VQGAN's adaptive weight at a decoder's last layer `convOut` (weight W):
 * clamp(‖∇_W nll‖ / (‖∇_W g_loss‖ + 1e-4), 0, 1e4)·weight, with rec =
 * convOut(features), nll = `nllOf(rec)` and g_loss = −mean(D(rec)). The
 * features are held constant: ∇_W depends on the graph after them only, so
 * this is the gradient of the whole model's losses at W, for the cost of
 * conv_out and one discriminator pass. Inside a recording tape, wrap the
 * result in `stopGradient` (the weight is a constant of the step, as
 * `.detach()` makes it).
 */
export function vqganAdaptiveWeight(
  convOut: Conv2d,
  discriminator: PatchDiscriminator,
  features: tf.Tensor4D,
  nllOf: (rec: tf.Tensor4D) => tf.Scalar,
  weight: number,
): tf.Scalar {
  return tf.tidy(() => {
    const h = stopGradient(features) as tf.Tensor4D;
    const bias = convOut.bias?.value;
    const recWith = (w: tf.Tensor) => {
      const y = tf.conv2d(h, w as tf.Tensor4D, convOut.stride, [[0, 0], convOut.pad[0], convOut.pad[1], [0, 0]]);
      return (bias ? tf.add(y, bias) : y) as tf.Tensor4D;
    };
    const W = convOut.weight.value;
    const gNll = tf.grad((w: tf.Tensor) => nllOf(recWith(w)))(W);
    const gGan = tf.grad((w: tf.Tensor) => generatorLoss(discriminator.forward(recWith(w))))(W);
    return adaptiveWeight(gNll, gGan, weight);
  });
}
