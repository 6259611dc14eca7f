/**
 * Configuration of the VAR transformer: one typed, frozen object per model,
 * the released variants as presets, and the configuration read back from a
 * checkpoint's key shapes.
 *
 * Follows the official `VAR.__init__` (FoundationVision/VAR `models/var.py`)
 * and `build_vae_var` (`models/__init__.py`): width 64·depth, heads = depth,
 * drop-path and dropout unused at inference (not modelled here).
 */

/** Token-map sides of the 256×256 models (VQ-VAE latent 16×16): L = 680. */
export const PATCH_NUMS_256: readonly number[] = Object.freeze([1, 2, 3, 4, 5, 6, 8, 10, 13, 16]);
/** Token-map sides of the 512×512 model (latent 32×32): L = 2240. */
export const PATCH_NUMS_512: readonly number[] = Object.freeze([1, 2, 3, 4, 6, 9, 13, 18, 24, 32]);
/** Token-map sides for 1024×1024 in the official `arg_util.py` (no released model). */
export const PATCH_NUMS_1024: readonly number[] = Object.freeze([1, 2, 3, 4, 5, 7, 9, 12, 16, 21, 27, 36, 48, 64]);

export interface VarConfig {
  /** Number of AdaLN self-attention blocks. */
  readonly depth: number;
  /** Width C (official: 64·depth). */
  readonly embedDim: number;
  /** Attention heads H (official: depth, so the head dim is 64). */
  readonly numHeads: number;
  /** FFN hidden width = round(C · mlpRatio) (official: 4). */
  readonly mlpRatio: number;
  /** LayerNorm epsilon (official: 1e-6; the norms have no affine weights). */
  readonly normEps: number;
  /** Number of classes; class index `numClasses` is "no class" (official: 1000, ImageNet). */
  readonly numClasses: number;
  /** One `shared_ada_lin` for all blocks plus a per-block `ada_gss` (official: only d36-s). */
  readonly sharedAln: boolean;
  /** L2-normalised q·k with a learned, clamped per-head scale (official: true for every released model). */
  readonly attnL2Norm: boolean;
  /** Side of the token map at each scale, coarse to fine. */
  readonly patchNums: readonly number[];
  /** Codebook size V of the VQ-VAE (official: 4096). */
  readonly vocabSize: number;
  /** Codebook entry width Cvae (official: 32). */
  readonly cvae: number;
  /** Probability of replacing a label by "no class" when training (official: 0.1). */
  readonly condDropRate: number;
}

/** The official defaults that do not depend on depth. */
const DEFAULTS = {
  mlpRatio: 4, // official VAR default
  normEps: 1e-6, // official VAR default
  numClasses: 1000, // ImageNet-1k
  sharedAln: false, // only d36-s shares its AdaLN
  attnL2Norm: true, // build_vae_var default, used by every released checkpoint
  patchNums: PATCH_NUMS_256, // 256×256 images
  vocabSize: 4096, // vae_ch160v4096z32
  cvae: 32, // vae_ch160v4096z32
  condDropRate: 0.1, // official VAR default (classifier-free guidance training)
} as const;

/**
 * A validated, frozen configuration: `depth` is required, width and heads
 * default to the official 64·depth and depth, everything else to the
 * released models' values.
 */
export function varConfig(c: Partial<VarConfig> & { depth: number }): VarConfig {
  const depth = c.depth;
  const cfg: VarConfig = {
    ...DEFAULTS,
    embedDim: 64 * depth,
    numHeads: depth,
    ...c,
    patchNums: Object.freeze([...(c.patchNums ?? DEFAULTS.patchNums)]),
  };
  const posInt = (k: keyof VarConfig) => {
    const v = cfg[k] as number;
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`VarConfig.${k} must be a positive integer, got ${v}`);
  };
  for (const k of ["depth", "embedDim", "numHeads", "numClasses", "vocabSize", "cvae"] as const) posInt(k);
  if (cfg.embedDim % cfg.numHeads) throw new RangeError(`VarConfig: embedDim ${cfg.embedDim} is not divisible by numHeads ${cfg.numHeads}`);
  if (!cfg.patchNums.length || cfg.patchNums.some((p) => !(Number.isInteger(p) && p > 0))) {
    throw new RangeError(`VarConfig.patchNums must be positive integers, got [${cfg.patchNums}]`);
  }
  if (!(cfg.mlpRatio > 0)) throw new RangeError(`VarConfig.mlpRatio must be > 0, got ${cfg.mlpRatio}`);
  if (!(cfg.normEps > 0)) throw new RangeError(`VarConfig.normEps must be > 0, got ${cfg.normEps}`);
  if (!(cfg.condDropRate >= 0 && cfg.condDropRate <= 1)) throw new RangeError(`VarConfig.condDropRate must be in [0, 1], got ${cfg.condDropRate}`);
  return Object.freeze(cfg);
}

/** The released models (official `var_d16.pth` … `var_d36.pth`). */
export const VAR_PRESETS = Object.freeze({
  /** 310M parameters, 256 px, FID 3.55. */
  d16: varConfig({ depth: 16 }),
  /** 600M parameters, 256 px, FID 2.95. */
  d20: varConfig({ depth: 20 }),
  /** 1.0B parameters, 256 px, FID 2.33. */
  d24: varConfig({ depth: 24 }),
  /** 2.0B parameters, 256 px, FID 1.97. */
  d30: varConfig({ depth: 30 }),
  /** 2.3B parameters, 512 px, shared AdaLN ("d36-s"), FID 2.63. */
  d36: varConfig({ depth: 36, patchNums: PATCH_NUMS_512, sharedAln: true }),
});

export type VarPresetName = keyof typeof VAR_PRESETS;

/** Total number of tokens L = Σ pn². */
export function tokenCount(patchNums: readonly number[]): number {
  return patchNums.reduce((s, p) => s + p * p, 0);
}

/** [begin, end) of each scale in the flattened token pyramid. */
export function scaleRanges(patchNums: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let cur = 0;
  for (const p of patchNums) {
    out.push([cur, cur + p * p]);
    cur += p * p;
  }
  return out;
}

/**
 * patch_nums from the `lvl_1L` buffer (the scale index of every token, as
 * saved in every official checkpoint): scale k holds pn_k² tokens.
 */
export function patchNumsFromLevels(lvl1L: ArrayLike<number | bigint>): number[] {
  const counts: number[] = [];
  let prev = -1;
  for (let i = 0; i < lvl1L.length; i++) {
    const k = Number(lvl1L[i]);
    if (k !== prev && k !== prev + 1) throw new Error(`lvl_1L is not a run of scale indices 0, 1, 2, … (found ${k} after ${prev})`);
    if (k === prev + 1) counts.push(0);
    counts[k]++;
    prev = k;
  }
  return counts.map((n, k) => {
    const pn = Math.round(Math.sqrt(n));
    if (pn * pn !== n) throw new Error(`lvl_1L: scale ${k} has ${n} tokens, not a square`);
    return pn;
  });
}

/** The token-pyramid layouts `inferVarConfig` recognises from (L, number of scales). */
export const KNOWN_PATCH_NUMS: readonly (readonly number[])[] = [PATCH_NUMS_256, PATCH_NUMS_512, PATCH_NUMS_1024];

/**
 * Read a configuration back from a checkpoint's key shapes (e.g. from
 * `openCheckpoint(...).info(k).shape`): depth from the block count, width and
 * Cvae from `word_embed`, classes from `class_emb`, V from `head`, shared
 * AdaLN from the keys, `attn_l2_norm` and heads from `scale_mul_1H11`, MLP
 * ratio from `fc1`, and patch_nums from L and the number of scales (among
 * `KNOWN_PATCH_NUMS`). `known` supplies what shapes cannot tell (heads
 * without `attn_l2_norm`, otherwise taken as C/64; patch_nums of other
 * pyramids; eps, dropout); values the shapes contradict are an error.
 */
export function inferVarConfig(shapes: Record<string, readonly number[]>, known: Partial<VarConfig> = {}): VarConfig {
  const need = ["word_embed.weight", "class_emb.weight", "pos_1LC", "lvl_embed.weight", "head.weight", "blocks.0.ffn.fc1.weight"];
  const missing = need.filter((k) => !shapes[k]);
  if (missing.length) throw new Error(`not a VAR state dict: missing ${missing.join(", ")}`);
  let depth = 0;
  for (const k of Object.keys(shapes)) {
    const m = /^blocks\.(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const [C, cvae] = shapes["word_embed.weight"];
  const scaleMul = shapes["blocks.0.attn.scale_mul_1H11"];
  const L = shapes.pos_1LC[1];
  const K = shapes["lvl_embed.weight"][0];
  let patchNums = known.patchNums;
  if (patchNums) {
    if (tokenCount(patchNums) !== L || patchNums.length !== K) {
      throw new Error(`patchNums [${patchNums}] give L=${tokenCount(patchNums)} over ${patchNums.length} scales, the checkpoint has L=${L} over ${K}`);
    }
  } else {
    patchNums = KNOWN_PATCH_NUMS.find((p) => tokenCount(p) === L && p.length === K);
    if (!patchNums) throw new Error(`cannot infer patch_nums from L=${L} over ${K} scales: pass them explicitly`);
  }
  const fromShapes: { -readonly [K in keyof VarConfig]?: VarConfig[K] } & { depth: number } = {
    depth,
    embedDim: C,
    cvae,
    attnL2Norm: !!scaleMul,
    sharedAln: !!shapes["shared_ada_lin.1.weight"],
    numClasses: shapes["class_emb.weight"][0] - 1,
    vocabSize: shapes["head.weight"][0],
    mlpRatio: shapes["blocks.0.ffn.fc1.weight"][0] / C,
  };
  if (scaleMul) fromShapes.numHeads = scaleMul[1];
  const clash = (Object.keys(fromShapes) as (keyof VarConfig)[]).filter((k) => known[k] !== undefined && known[k] !== fromShapes[k]);
  if (clash.length) throw new Error(`the checkpoint's shapes contradict ${clash.map((k) => `${k}=${known[k]} (checkpoint: ${fromShapes[k]})`).join(", ")}`);
  return varConfig({ numHeads: C / 64, ...known, ...fromShapes, patchNums });
}
