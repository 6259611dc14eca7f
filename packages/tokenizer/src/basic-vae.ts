/**
 * The building blocks of the VQ-VAE's conv net, after FoundationVision/VAR
 * `models/basic_vae.py` (itself latent-diffusion's
 * `ldm/modules/diffusionmodules/model.py`): GroupNorm(32, eps 1e-6) + SiLU
 * ResNet blocks, single-head spatial self-attention, pad-then-stride-2
 * downsampling and nearest ×2 upsampling.
 *
 * Notation: B batch, H×W spatial size, C channels. Activations are NHWC.
 * Intermediates are freed as soon as they are used (`sequential`, `residual`).
 */
import { Conv2d, GroupNorm, Module, ModuleList, residual, sequential } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";

/** `Normalize`: GroupNorm with 32 groups, eps 1e-6, affine. */
export const normalize = (channels: number): GroupNorm => new GroupNorm(32, channels, 1e-6, true);

/** `ResnetBlock`: x + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))), 1×1 shortcut when the width changes. */
export class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly nin_shortcut: Conv2d | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
  ) {
    super();
    this.norm1 = this.child("norm1", normalize(inChannels));
    this.conv1 = this.child("conv1", new Conv2d(inChannels, outChannels, 3, 1, 1));
    this.norm2 = this.child("norm2", normalize(outChannels));
    this.conv2 = this.child("conv2", new Conv2d(outChannels, outChannels, 3, 1, 1));
    this.nin_shortcut = inChannels !== outChannels ? this.child("nin_shortcut", new Conv2d(inChannels, outChannels, 1)) : null;
  }
  /** (B, H, W, Cin) -> (B, H, W, Cout) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    // dropout is 0 in every released model
    const branch = (h: tf.Tensor4D) =>
      sequential(h, (t) => this.norm1.forwardSilu(t), this.conv1, (t) => this.norm2.forwardSilu(t), this.conv2);
    return residual(x, branch, this.nin_shortcut);
  }
}

/** `AttnBlock`: single-head self-attention over the H·W positions, scale C^-0.5, residual. */
export class AttnBlock extends Module {
  readonly norm: GroupNorm;
  readonly qkv: Conv2d;
  readonly proj_out: Conv2d;
  constructor(readonly channels: number) {
    super();
    this.norm = this.child("norm", normalize(channels));
    this.qkv = this.child("qkv", new Conv2d(channels, 3 * channels, 1));
    this.proj_out = this.child("proj_out", new Conv2d(channels, channels, 1));
  }
  /** (B, H, W, C) -> (B, H, W, C) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return residual(x, (h) => sequential(h, this.norm, this.qkv, attend, this.proj_out));
  }
}

/** softmax(q·kᵀ/√C)·v over the H·W positions: qkv (B, H, W, 3C), q, k, v in that channel order -> (B, H, W, C). */
function attend(qkv: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C3] = qkv.shape;
    const C = C3 / 3;
    const [q, k, v] = tf.split(tf.reshape(qkv, [B, H * W, C3]), 3, 2); // (B, HW, C) each
    const w = tf.softmax(tf.mul(tf.matMul(q, k, false, true), C ** -0.5)); // (B, HWq, HWk), over keys
    // w·v one image at a time: tfjs-wasm multiplies a batch of matrices with its own blocked loop and a
    // single one with XNNPACK, which round differently, so a batched product would make an image's
    // pixels depend on the batch it is decoded in (q·kᵀ takes the same path at any batch size). While the
    // gradient tape records (training) the batched product is taken: that promise is an inference one, and
    // the per-image slices' gradients (a full-size pad and add per image) made the step quadratic in B.
    const wv =
      B === 1 || tf.engine().isTapeOn()
        ? tf.matMul(w, v)
        : tf.concat(Array.from({ length: B }, (_, b) => tf.matMul(tf.slice(w, [b, 0, 0], [1, -1, -1]), tf.slice(v, [b, 0, 0], [1, -1, -1]))), 0);
    return tf.reshape(wv, [B, H, W, C]) as tf.Tensor4D;
  });
}

/** `Upsample2x`: nearest-neighbour ×2, then a 3×3 conv. */
export class Upsample2x extends Module {
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = this.child("conv", new Conv2d(channels, channels, 3, 1, 1));
  }
  /** (B, H, W, C) -> (B, 2H, 2W, C) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return sequential(x, nearest2x, this.conv);
  }
}

/** Nearest-neighbour ×2: (B, H, W, C) -> (B, 2H, 2W, C). */
function nearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    // every pixel repeated in a 2×2 block, by two rank-3 concats: columns (B·H·W, 1, C) -> (B·H·W, 2, C),
    // then rows (B·H, 1, 2W·C) -> (B·H, 2, 2W·C). Not a rank-5 broadcastTo: tfjs-webgpu tiles
    // rank ≥ 5 on the CPU through a synchronous read, and on wasm these concats take about a tenth of Tile's time.
    const px = tf.reshape(x, [B * H * W, 1, C]);
    const row = tf.reshape(tf.concat([px, px], 1), [B * H, 1, 2 * W * C]);
    return tf.reshape(tf.concat([row, row], 1), [B, 2 * H, 2 * W, C]) as tf.Tensor4D;
  });
}

/** `Downsample2x`: pad right and bottom by one zero, then a 3×3 conv with stride 2 and no padding. */
export class Downsample2x extends Module {
  readonly conv: Conv2d;
  constructor(channels: number) {
    super();
    this.conv = this.child("conv", new Conv2d(channels, channels, 3, 2, 0));
    this.conv.pad = [
      [0, 1],
      [0, 1],
    ];
  }
  /** (B, H, W, C) -> (B, H/2, W/2, C) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.conv.forward(x);
  }
}

/**
 * One resolution level of the encoder or the decoder: its ResNet blocks,
 * each followed by its attention block at the lowest resolution, then the
 * resampling to the next level (`downsample` in the encoder, `upsample` in
 * the decoder; none after the last level). Child names are the official ones.
 */
export class ResolutionLevel extends Module {
  readonly block: ModuleList<ResnetBlock>;
  readonly attn: ModuleList<AttnBlock>;
  /** `downsample` or `upsample`, under that name in the state dict. */
  readonly resample: Downsample2x | Upsample2x | null;
  constructor(blocks: ResnetBlock[], attn: AttnBlock[], resample: ["downsample", Downsample2x] | ["upsample", Upsample2x] | null) {
    super();
    this.block = this.child("block", new ModuleList(blocks));
    this.attn = this.child("attn", new ModuleList(attn));
    this.resample = resample ? this.child(resample[0], resample[1]) : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return sequential(x, ...this.block.items.flatMap((block, j) => [block, this.attn.items[j]]), this.resample);
  }
}
