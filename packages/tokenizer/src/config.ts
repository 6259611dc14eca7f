/**
 * The VQ-VAE configuration: one typed, frozen object per model, with the
 * official constructor arguments (`VQVAE.__init__` in FoundationVision/VAR
 * `models/vqvae.py`, encoder/decoder settings from latent-diffusion's
 * `vq-f16/config.yaml`), presets for the released tokenizer, and inference
 * from a checkpoint's key shapes.
 */
import { VqvaeInputError } from "./errors.js";

export interface VqvaeConfig {
  /** V: codebook entries (`vocab_size`). */
  readonly vocabSize: number;
  /** Cvae: latent and codebook width (`z_channels`). */
  readonly zChannels: number;
  /** Base width of the conv net (`ch`). */
  readonly ch: number;
  /** Width multiplier per resolution level (`ch_mult`); the image is downsampled 2^(levels-1) times. */
  readonly chMult: readonly number[];
  /** ResNet blocks per encoder level (the decoder has one more) (`num_res_blocks`). */
  readonly numResBlocks: number;
  /** Self-attention after every block of the lowest level (`using_sa`). */
  readonly usingSa: boolean;
  /** Self-attention in the middle block (`using_mid_sa`). */
  readonly usingMidSa: boolean;
  /** Commitment weight in the quantizer's training loss (`beta`). */
  readonly beta: number;
  /** Nearest code by cosine similarity instead of Euclidean distance (`using_znorm`). */
  readonly usingZnorm: boolean;
  /** Kernel size of `quant_conv` / `post_quant_conv` (`quant_conv_ks`). */
  readonly quantConvKs: number;
  /** r in φ(h) = (1-r)·h + r·conv(h) (`quant_resi`); |r| ≤ 1e-6 makes φ the identity. */
  readonly quantResi: number;
  /** Number of φ convs: 0 one per scale, 1 one shared, n > 1 n partially shared (`share_quant_resi`). */
  readonly shareQuantResi: number;
  /** With `shareQuantResi = 0`: how many φ (0 = one per scale) (`default_qresi_counts`). */
  readonly defaultQresiCounts: number;
  /** Side of each scale's token map, coarse to fine (`v_patch_nums`); the last is the latent side. */
  readonly patchNums: readonly number[];
}

/** The token-map sides of the released models. */
export const PATCH_NUMS = Object.freeze({
  256: Object.freeze([1, 2, 3, 4, 5, 6, 8, 10, 13, 16]),
  512: Object.freeze([1, 2, 3, 4, 6, 9, 13, 18, 24, 32]),
});

/** Defaults of the official `VQVAE.__init__` as used by every released VAR model. */
const OFFICIAL: VqvaeConfig = {
  vocabSize: 4096,
  zChannels: 32,
  ch: 160, // the released tokenizer (the class default is 128)
  chMult: [1, 1, 2, 2, 4], // vq-f16: 16× downsampling
  numResBlocks: 2,
  usingSa: true,
  usingMidSa: true,
  beta: 0.25, // "SD seems using 0.25" (VectorQuantizer2)
  usingZnorm: false,
  quantConvKs: 3,
  quantResi: 0.5,
  shareQuantResi: 4, // four partially shared φ
  defaultQresiCounts: 0,
  patchNums: PATCH_NUMS[256],
};

/** Build a validated, frozen config; unspecified fields take the official values. */
export function vqvaeConfig(overrides: Partial<VqvaeConfig> = {}): VqvaeConfig {
  const c = { ...OFFICIAL, ...overrides };
  const posInt = (n: number) => Number.isInteger(n) && n > 0;
  const bad = (msg: string) => {
    throw new VqvaeInputError(`invalid VQ-VAE config: ${msg}`);
  };
  for (const k of ["vocabSize", "zChannels", "ch", "numResBlocks", "quantConvKs"] as const) {
    if (!posInt(c[k])) bad(`${k} must be a positive integer (got ${c[k]})`);
  }
  if (c.quantConvKs % 2 !== 1) bad(`quantConvKs must be odd (got ${c.quantConvKs})`);
  if (!c.chMult.length || !c.chMult.every(posInt)) bad(`chMult must be positive integers (got [${c.chMult}])`);
  for (const m of [1, ...c.chMult]) {
    if ((c.ch * m) % 32) bad(`every width ch·chMult must be divisible by GroupNorm's 32 groups (got ${c.ch}·${m})`);
  }
  if (!Number.isInteger(c.shareQuantResi) || c.shareQuantResi < 0) bad(`shareQuantResi must be a non-negative integer`);
  if (!Number.isInteger(c.defaultQresiCounts) || c.defaultQresiCounts < 0) bad(`defaultQresiCounts must be a non-negative integer`);
  checkPatchNums(c.patchNums);
  return Object.freeze({ ...c, chMult: Object.freeze([...c.chMult]), patchNums: Object.freeze([...c.patchNums]) });
}

/** patch_nums: at least two scales (φ is chosen by k/(K-1)), positive integers. */
export function checkPatchNums(patchNums: readonly number[]): void {
  if (!Array.isArray(patchNums) || patchNums.length < 2) {
    throw new VqvaeInputError(`patch_nums needs at least two scales (got [${patchNums}])`);
  }
  if (!patchNums.every((p) => Number.isInteger(p) && p > 0)) {
    throw new VqvaeInputError(`patch_nums must be positive integers (got [${patchNums}])`);
  }
}

/** 2^(levels-1): image side / latent side. */
export const downsampleRatio = (c: VqvaeConfig): number => 2 ** (c.chMult.length - 1);
/** The image side the config's patch_nums imply. */
export const imageSize = (c: VqvaeConfig, patchNums: readonly number[] = c.patchNums): number =>
  patchNums[patchNums.length - 1] * downsampleRatio(c);

/**
 * Presets: the released `vae_ch160v4096z32.pth` (shared by every VAR model)
 * with the 256 px token maps (d16…d30) and the 512 px ones (d36-s).
 */
export const VQVAE_PRESETS = Object.freeze({
  vqvae_ch160v4096z32: vqvaeConfig(),
  vqvae_ch160v4096z32_512: vqvaeConfig({ patchNums: PATCH_NUMS[512] }),
});
export type VqvaePresetName = keyof typeof VQVAE_PRESETS;

/** The official constructor's keyword arguments (as in a bundle's `meta.json` `vqvae`). */
export interface VqvaeKwargs {
  vocab_size?: number;
  z_channels?: number;
  ch?: number;
  ch_mult?: number[];
  num_res_blocks?: number;
  using_sa?: boolean;
  using_mid_sa?: boolean;
  beta?: number;
  using_znorm?: boolean;
  quant_conv_ks?: number;
  quant_resi?: number;
  share_quant_resi?: number;
  default_qresi_counts?: number;
  v_patch_nums?: number[];
}

/** A config from the official `VQVAE(...)` keyword arguments (missing ones take the official values). */
export function vqvaeConfigFromKwargs(kw: VqvaeKwargs, patchNums?: readonly number[]): VqvaeConfig {
  const o: Record<string, unknown> = {
    vocabSize: kw.vocab_size,
    zChannels: kw.z_channels,
    ch: kw.ch,
    chMult: kw.ch_mult,
    numResBlocks: kw.num_res_blocks,
    usingSa: kw.using_sa,
    usingMidSa: kw.using_mid_sa,
    beta: kw.beta,
    usingZnorm: kw.using_znorm,
    quantConvKs: kw.quant_conv_ks,
    quantResi: kw.quant_resi,
    shareQuantResi: kw.share_quant_resi,
    defaultQresiCounts: kw.default_qresi_counts,
    patchNums: patchNums ?? kw.v_patch_nums,
  };
  return vqvaeConfig(Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<VqvaeConfig>);
}

/**
 * Infer the architecture from a checkpoint's keys and shapes. What shapes
 * cannot tell (`beta`, `quantResi` when φ exists, `usingZnorm`) takes the
 * official value; `patchNums` defaults to the 256 px list when the checkpoint
 * has 10 scales and must be given otherwise.
 */
export function inferVqvaeConfig(shapes: Record<string, readonly number[]>, overrides: Partial<VqvaeConfig> = {}): VqvaeConfig {
  const keys = Object.keys(shapes);
  const has = (k: string) => k in shapes;
  if (!has("quantize.embedding.weight") || !has("encoder.conv_in.weight")) {
    const looksVar = has("class_emb.weight") || keys.some((k) => k.startsWith("blocks.0."));
    const looksInception = keys.some((k) => k.startsWith("Mixed_"));
    const what = looksVar ? "a VAR transformer checkpoint, not a VQ-VAE" : looksInception ? "an Inception checkpoint, not a VQ-VAE" : "not a VQ-VAE checkpoint";
    throw new VqvaeInputError(
      `${what}: a VQ-VAE state dict has "encoder.conv_in.weight" and "quantize.embedding.weight" (found ${keys.length} keys, e.g. ${keys.slice(0, 3).join(", ") || "none"})`,
    );
  }
  const [vocabSize, zChannels] = shapes["quantize.embedding.weight"];
  const [ch, inCh] = shapes["encoder.conv_in.weight"];
  if (inCh !== 3) throw new VqvaeInputError(`encoder.conv_in takes ${inCh} channels; the VQ-VAE takes RGB (3)`);
  const count = (re: RegExp) => new Set(keys.map((k) => re.exec(k)?.[1]).filter((x) => x !== undefined)).size;
  const levels = count(/^encoder\.down\.(\d+)\./);
  const chMult = Array.from({ length: levels }, (_, i) => {
    const w = shapes[`encoder.down.${i}.block.0.conv1.weight`];
    if (!w) throw new VqvaeInputError(`checkpoint lacks encoder.down.${i}.block.0.conv1.weight`);
    return w[0] / ch;
  });
  const numResBlocks = count(/^encoder\.down\.0\.block\.(\d+)\./);
  const usingSa = has(`encoder.down.${levels - 1}.attn.0.qkv.weight`);
  const usingMidSa = has("encoder.mid.attn_1.qkv.weight");
  const quantConvKs = shapes["quant_conv.weight"]?.[2] ?? 3;
  const partially = count(/^quantize\.quant_resi\.qresi_ls\.(\d+)\./);
  const nonShared = count(/^quantize\.quant_resi\.(\d+)\./);
  const shared = has("quantize.quant_resi.qresi.weight");
  const phi: Partial<VqvaeConfig> = partially
    ? { shareQuantResi: partially }
    : shared
      ? { shareQuantResi: 1 }
      : nonShared
        ? { shareQuantResi: 0, defaultQresiCounts: nonShared }
        : { quantResi: 0 }; // no φ weights: φ is the identity
  const scales = shapes["quantize.ema_vocab_hit_SV"]?.[0];
  let patchNums = overrides.patchNums;
  if (!patchNums) {
    if (scales === undefined || scales === PATCH_NUMS[256].length) patchNums = PATCH_NUMS[256];
    else {
      throw new VqvaeInputError(
        `the checkpoint was trained with ${scales} scales; pass patchNums (the side of each scale's token map)`,
      );
    }
  }
  return vqvaeConfig({ vocabSize, zChannels, ch, chMult, numResBlocks, usingSa, usingMidSa, quantConvKs, ...phi, ...overrides, patchNums });
}
