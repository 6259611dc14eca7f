/**
 * The VQ-VAE encoder (`Encoder` in FoundationVision/VAR `models/basic_vae.py`,
 * latent-diffusion's vq-f16 net): conv_in, one level per `ch_mult` entry
 * (ResNet blocks, attention at the lowest level, stride-2 downsampling between
 * levels), a middle block with attention, then GroupNorm + SiLU + conv_out to
 * `z_channels`. An image (B, H, W, 3) becomes a latent (B, H/16, W/16, Cvae)
 * for `ch_mult` of five levels.
 */
import { Conv2d, type GroupNorm, Module, ModuleList, sequential } from "@nextscale/core";
import type * as tf from "@tensorflow/tfjs-core";
import { AttnBlock, Downsample2x, normalize, ResnetBlock, ResolutionLevel } from "./basic-vae.js";
import type { VqvaeConfig } from "./config.js";

/** The middle: ResNet block, attention (if `using_mid_sa`), ResNet block. */
export class MidBlock extends Module {
  readonly block_1: ResnetBlock;
  readonly attn_1: AttnBlock | null;
  readonly block_2: ResnetBlock;
  constructor(channels: number, usingMidSa: boolean) {
    super();
    this.block_1 = this.child("block_1", new ResnetBlock(channels, channels));
    this.attn_1 = usingMidSa ? this.child("attn_1", new AttnBlock(channels)) : null;
    this.block_2 = this.child("block_2", new ResnetBlock(channels, channels));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return sequential(x, this.block_1, this.attn_1, this.block_2);
  }
}

export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down: ModuleList<ResolutionLevel>;
  readonly mid: MidBlock;
  readonly norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  constructor(readonly config: VqvaeConfig) {
    super();
    const { ch, chMult, numResBlocks, usingSa, usingMidSa, zChannels } = config;
    const levels = chMult.length;
    this.conv_in = this.child("conv_in", new Conv2d(3, ch, 3, 1, 1));
    const inChMult = [1, ...chMult];
    let blockIn = ch;
    const down: ResolutionLevel[] = [];
    for (let i = 0; i < levels; i++) {
      blockIn = ch * inChMult[i];
      const blockOut = ch * chMult[i];
      const blocks: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      for (let j = 0; j < numResBlocks; j++) {
        blocks.push(new ResnetBlock(blockIn, blockOut));
        blockIn = blockOut;
        if (i === levels - 1 && usingSa) attn.push(new AttnBlock(blockIn));
      }
      down.push(new ResolutionLevel(blocks, attn, i !== levels - 1 ? ["downsample", new Downsample2x(blockIn)] : null));
    }
    this.down = this.child("down", new ModuleList(down));
    this.mid = this.child("mid", new MidBlock(blockIn, usingMidSa));
    this.norm_out = this.child("norm_out", normalize(blockIn));
    this.conv_out = this.child("conv_out", new Conv2d(blockIn, zChannels, 3, 1, 1));
  }

  /** (B, H, W, 3) -> (B, H/2^(levels-1), W/2^(levels-1), Cvae) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return sequential(x, this.conv_in, ...this.down.items, this.mid, (h) => this.norm_out.forwardSilu(h), this.conv_out);
  }
}
