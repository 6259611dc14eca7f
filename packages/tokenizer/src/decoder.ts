/**
 * The VQ-VAE decoder (`Decoder` in FoundationVision/VAR `models/basic_vae.py`):
 * conv_in from `z_channels`, the middle block, then the levels from the
 * lowest resolution up (one more ResNet block per level than the encoder,
 * attention at the lowest level, nearest ×2 upsampling between levels), and
 * GroupNorm + SiLU + conv_out to RGB. The output is not clamped here
 * (`VQVAE.decode` clamps it to [-1, 1], as `fhat_to_img` does).
 */
import { Conv2d, type GroupNorm, Module, ModuleList, sequential } from "@nextscale/core";
import type * as tf from "@tensorflow/tfjs-core";
import { AttnBlock, normalize, ResnetBlock, ResolutionLevel, Upsample2x } from "./basic-vae.js";
import type { VqvaeConfig } from "./config.js";
import { MidBlock } from "./encoder.js";

export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly mid: MidBlock;
  /** `up[i]` is level i (0 = full resolution), built from the lowest level up as in the official code. */
  readonly up: ModuleList<ResolutionLevel>;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  constructor(readonly config: VqvaeConfig) {
    super();
    const { ch, chMult, numResBlocks, usingSa, usingMidSa, zChannels } = config;
    const levels = chMult.length;
    let blockIn = ch * chMult[levels - 1];
    this.conv_in = this.child("conv_in", new Conv2d(zChannels, blockIn, 3, 1, 1));
    this.mid = this.child("mid", new MidBlock(blockIn, usingMidSa));
    const up: ResolutionLevel[] = [];
    for (let i = levels - 1; i >= 0; i--) {
      const blockOut = ch * chMult[i];
      const blocks: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      for (let j = 0; j < numResBlocks + 1; j++) {
        blocks.push(new ResnetBlock(blockIn, blockOut));
        blockIn = blockOut;
        if (i === levels - 1 && usingSa) attn.push(new AttnBlock(blockIn));
      }
      up.unshift(new ResolutionLevel(blocks, attn, i !== 0 ? ["upsample", new Upsample2x(blockIn)] : null));
    }
    this.up = this.child("up", new ModuleList(up));
    this.norm_out = this.child("norm_out", normalize(blockIn));
    this.conv_out = this.child("conv_out", new Conv2d(blockIn, 3, 3, 1, 1));
  }

  /** (B, h, w, Cvae) -> (B, h·2^(levels-1), w·2^(levels-1), 3), unclamped */
  forward(z: tf.Tensor4D): tf.Tensor4D {
    return this.conv_out.forward(this.features(z));
  }

  /**
   * Everything before `conv_out`: SiLU(norm_out(…)), (B, H, W, ch·ch_mult[0]).
   * `forward(z)` is `conv_out.forward(features(z))`; a GAN's adaptive weight
   * differentiates through conv_out alone from here.
   */
  features(z: tf.Tensor4D): tf.Tensor4D {
    const levels = [...this.up.items].reverse(); // lowest resolution first
    return sequential(z, this.conv_in, this.mid, ...levels, (h) => this.norm_out.forwardSilu(h));
  }
}
