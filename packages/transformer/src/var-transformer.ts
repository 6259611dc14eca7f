/**
 * The VAR transformer ("next-scale prediction", arXiv 2404.02905): a
 * GPT-2-style decoder over the multi-scale token pyramid, conditioned on the
 * class through adaptive LayerNorm, as `VAR` in the official `models/var.py`
 * (FoundationVision/VAR). Parameter and buffer names are the official
 * state-dict names, so `var_d16.pth` … `var_d36.pth` load by name.
 *
 * Two ways to run it:
 * - training (`forward`): all L tokens at once under the block-causal mask
 *   (a token sees every token of its own and coarser scales), teacher-forced
 *   by the VQ-VAE's `idxBl_to_var_input`;
 * - inference, one scale at a time with a KV cache and no mask
 *   (`condition`, `embedFirstScale`, `embedScale`, `forwardScale`): the
 *   sampler's building blocks, equal to the masked forward on the same tokens.
 *
 * Notation: B batch, L total tokens (Σ pn²), l tokens of one scale (pn²),
 * C width, Cvae codebook entry width, V vocabulary, K scales.
 */

import {
  DTYPE_SIZE,
  Embedding,
  inspectCheckpoint,
  Linear,
  type LoadOptions,
  Module,
  ModuleList,
  numel,
  type Parameter,
  packWhileLoading,
  recompute,
  StateDictError,
  type StateDictProblems,
  type StateDictSource,
  type TensorStore,
} from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { AdaLNBeforeHead } from "./ada-ln-before-head.js";
import { AdaLin, AdaLNSelfAttn } from "./ada-ln-self-attn.js";
import { inferVarConfig, patchNumsFromLevels, scaleRanges, tokenCount, type VarConfig } from "./config.js";
import { KVCache } from "./kv-cache.js";

/** The keys every VAR checkpoint has (`inferVarConfig` reads them). */
const VAR_KEYS = ["word_embed.weight", "class_emb.weight", "pos_1LC", "lvl_embed.weight", "head.weight", "blocks.0.ffn.fc1.weight"];

/** A checkpoint that is not a VAR's (a VQ-VAE's, Inception's, anything else): a `StateDictError` naming the file. */
function checkIsVar(store: TensorStore): void {
  const missing = VAR_KEYS.filter((k) => !store.has(k));
  if (!missing.length) return;
  const kind = inspectCheckpoint(store).kind;
  const looks =
    kind === "vae"
      ? "looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*), not a VAR: load it with loadVqvae (as the VQ-VAE), and load the VAR's file (var_d16.pth …) here"
      : kind === "inception"
        ? "looks like an Inception checkpoint (it has Conv2d_1a_3x3.*, Mixed_*: the FID network), not a VAR"
        : `is not a VAR checkpoint: it lacks ${missing.join(", ")}`;
  const e = new StateDictError({ missing, unexpected: [], mismatched: [] }, `checkpoint ${store.name} into VarTransformer`);
  e.message = `cannot load checkpoint ${store.name} into VarTransformer: ${store.name} ${looks}`;
  throw e;
}

/** `loadStateDict`'s per-tensor progress with the file's name and byte counts; reports `loaded: 0` at once. */
function bytesProgress(
  model: Module,
  store: TensorStore,
  prefix: string,
  onProgress: (p: { file: string; key: string; loaded: number; total: number; bytes: number; totalBytes: number }) => void,
) {
  const sizeOf = (k: string) => {
    const { shape, dtype } = store.info(prefix + k);
    return numel(shape) * DTYPE_SIZE[dtype];
  };
  const keys = model
    .namedParameters()
    .map(([k]) => k)
    .filter((k) => store.has(prefix + k));
  const totalBytes = keys.reduce((s, k) => s + sizeOf(k), 0);
  let bytes = 0;
  onProgress({ file: store.name, key: "", loaded: 0, total: keys.length, bytes, totalBytes });
  return (p: { loaded: number; total: number; key: string }) => {
    bytes += sizeOf(p.key);
    onProgress({ file: store.name, key: p.key, loaded: p.loaded, total: p.total, bytes, totalBytes });
  };
}

/**
 * Class labels of a batch (B): numbers on the host (`numClasses` means "no
 * class"). A tensor is accepted where the backend can read it synchronously
 * (cpu, wasm); on webgpu in Node pass `await labels.data()`.
 */
export type Labels = ArrayLike<number> | tf.Tensor;

/**
 * What a batch of labels contributes to every scale, computed once per
 * batch: the class embedding and the AdaLN modulations it gives each block
 * and the head. Holds tensors: `dispose()` when done.
 */
export interface VarCondition {
  readonly batchSize: number;
  /** (B) int32 labels, `numClasses` = no class. */
  readonly labels: tf.Tensor1D;
  /** (B, C) class embeddings (`class_emb(labels)`). */
  readonly classEmb: tf.Tensor2D;
  /** Per block (B, 1, 6, C): γ1, γ2, s1, s2, b1, b2. */
  readonly blockMods: readonly tf.Tensor4D[];
  /** (B, 1, 2, C): the head norm's scale and shift. */
  readonly headMod: tf.Tensor4D;
  dispose(): void;
}

export interface ForwardOptions {
  /** Probability of replacing each label by "no class" (default 0; official training: `config.condDropRate`). */
  condDropRate?: number;
  /**
   * Stochastic depth (official `drop_path_rate`, train.py: 0.1·depth/24):
   * block i drops each sample's attention and FFN branch with probability
   * rate·i/(depth − 1) (`torch.linspace(0, rate, depth)`), kept ones scaled
   * by 1/keep. Default 0. Drawn from `random` after the class dropout: per
   * block with a rate > 0, the attention branch's B draws, then the FFN's.
   */
  dropPathRate?: number;
  /** Uniform [0, 1) source for class dropout and drop path, e.g. `() => rng.random()` with core's `Random`. Required when either rate is > 0. */
  random?: () => number;
  /**
   * Activation checkpointing: under a gradient tape each block keeps only
   * its input (core's `recompute`) and runs again in the backward pass, so
   * the tape holds about one (B, L, C) tensor per block instead of every
   * intermediate (for one more forward of the blocks). The same values and
   * gradients. Default off.
   */
  recompute?: boolean;
}

/** Per-block drop-path probabilities: `torch.linspace(0, rate, depth)`. */
export function dropPathRates(rate: number, depth: number): number[] {
  return Array.from({ length: depth }, (_, i) => (depth === 1 ? 0 : (rate * i) / (depth - 1)));
}

/** Read a small tensor on the host, or say how to pass it when the backend cannot read synchronously. */
export function readSync(t: tf.Tensor, what: string): ArrayLike<number> {
  try {
    return t.dataSync();
  } catch (e) {
    throw new Error(`${what}: the ${tf.getBackend()} backend cannot read a tensor synchronously here (${(e as Error).message}); pass the values as numbers (await t.data())`);
  }
}

export class VarTransformer extends Module {
  readonly config: VarConfig;
  /** Total tokens L = Σ pn². */
  readonly L: number;
  /** Tokens of the first scale (pn₀², 1 in every released model). */
  readonly firstL: number;
  /** [begin, end) of each scale in the token sequence. */
  readonly beginEnds: readonly [number, number][];

  readonly pos_start: Parameter;
  readonly pos_1LC: Parameter;
  /** Buffer (1, L): the scale index of each token. */
  readonly lvl_1L: Parameter;
  /** Buffer (1, 1, L, L): 0 where token i may see token j (scale(j) ≤ scale(i)), -inf elsewhere. */
  readonly attn_bias_for_masking: Parameter;
  readonly word_embed: Linear;
  readonly class_emb: Embedding;
  readonly lvl_embed: Embedding;
  /** Shared AdaLN (d36-s): SiLU → Linear D → 6C viewed as (B, 1, 6, C), one for all blocks (official `SharedAdaLin`). */
  readonly shared_ada_lin: AdaLin | null;
  readonly blocks: ModuleList<AdaLNSelfAttn>;
  readonly head_nm: AdaLNBeforeHead;
  readonly head: Linear;

  /** Declares every parameter with its shape; allocates nothing (load or `initWeights` next). */
  constructor(config: VarConfig) {
    super();
    this.config = config;
    const { embedDim: C, patchNums } = config;
    this.L = tokenCount(patchNums);
    this.firstL = patchNums[0] ** 2;
    this.beginEnds = scaleRanges(patchNums);
    // Own parameters, then buffers, then children: the official state-dict order.
    this.pos_start = this.param("pos_start", [1, this.firstL, C]);
    this.pos_1LC = this.param("pos_1LC", [1, this.L, C]);
    this.lvl_1L = this.buffer("lvl_1L", [1, this.L], "int32");
    this.attn_bias_for_masking = this.buffer("attn_bias_for_masking", [1, 1, this.L, this.L]);
    this.word_embed = this.child("word_embed", new Linear(config.cvae, C));
    this.class_emb = this.child("class_emb", new Embedding(config.numClasses + 1, C));
    this.lvl_embed = this.child("lvl_embed", new Embedding(patchNums.length, C));
    this.shared_ada_lin = config.sharedAln ? this.child("shared_ada_lin", new AdaLin(C, 6 * C)) : null;
    const blocks: AdaLNSelfAttn[] = [];
    for (let i = 0; i < config.depth; i++) {
      blocks.push(
        new AdaLNSelfAttn({
          blockIdx: i,
          embedDim: C,
          numHeads: config.numHeads,
          mlpRatio: config.mlpRatio,
          normEps: config.normEps,
          sharedAln: config.sharedAln,
          attnL2Norm: config.attnL2Norm,
        }),
      );
    }
    this.blocks = this.child("blocks", new ModuleList(blocks));
    this.head_nm = this.child("head_nm", new AdaLNBeforeHead(C, C, config.normEps));
    this.head = this.child("head", new Linear(C, config.vocabSize));
  }

  /**
   * Build from a checkpoint and load it: the configuration comes from the
   * key shapes (`inferVarConfig`), patch_nums from the checkpoint's `lvl_1L`
   * buffer (else from L); `opts.config` supplies what shapes cannot tell.
   * `opts.pack` packs the weights for inference as they load
   * (`packWhileLoading`: on wasm each weight is then held once); default false.
   * `opts.onProgress` is called before the first tensor (`loaded: 0`) and
   * after each one, with the file's name and the tensors' sizes in bytes.
   * A file that is not a VAR checkpoint is a `StateDictError` naming it (a
   * VQ-VAE's: "… looks like a VQ-VAE checkpoint …").
   */
  static async fromCheckpoint(
    store: TensorStore,
    opts: Omit<LoadOptions, "onProgress"> & {
      config?: Partial<VarConfig>;
      pack?: boolean;
      onProgress?: (p: { file: string; key: string; loaded: number; total: number; bytes: number; totalBytes: number }) => void;
    } = {},
  ): Promise<VarTransformer> {
    checkIsVar(store);
    const shapes = Object.fromEntries(store.keys().map((k) => [k, store.info(k).shape]));
    const known = { ...opts.config };
    if (!known.patchNums && store.keys().includes("lvl_1L")) {
      known.patchNums = patchNumsFromLevels((await store.read("lvl_1L")).data as ArrayLike<number | bigint>);
    }
    const model = new VarTransformer(inferVarConfig(shapes, known));
    const { config: _, pack, onProgress, ...load } = opts;
    await model.loadStateDict(store, {
      ...load,
      onProgress: onProgress && bytesProgress(model, store, load.prefix ?? "", onProgress),
      transform: load.transform ?? (pack ? packWhileLoading(model) : undefined),
    });
    return model;
  }

  /**
   * Load by name (all problems in one `StateDictError`). Buffers the source
   * lacks (possible with `strict: false`) are recomputed.
   */
  override async loadStateDict(source: StateDictSource, opts: LoadOptions = {}): Promise<StateDictProblems> {
    const problems = await super.loadStateDict(source, opts);
    this.initBuffers(true);
    return problems;
  }

  /** Set the buffers (`lvl_1L`, the mask, every `zero_k_bias`) to their defined values; with `onlyMissing`, only unset ones. */
  initBuffers(onlyMissing = false): void {
    const set = (p: Parameter, t: () => tf.Tensor) => {
      if (!(onlyMissing && p.isSet)) p.setTorch(t());
    };
    const lvl = new Int32Array(this.L);
    for (const [si, [b, e]] of this.beginEnds.entries()) lvl.fill(si, b, e);
    set(this.lvl_1L, () => tf.tensor(lvl, [1, this.L], "int32"));
    set(this.attn_bias_for_masking, () => {
      const bias = new Float32Array(this.L * this.L);
      for (let i = 0; i < this.L; i++) for (let j = 0; j < this.L; j++) bias[i * this.L + j] = lvl[j] <= lvl[i] ? 0 : -Infinity;
      return tf.tensor(bias, [1, 1, this.L, this.L]);
    });
    for (const b of this.blocks.items) set(b.attn.zero_k_bias, () => tf.zeros([this.config.embedDim]));
  }

  // ---------------------------------------------------------------- condition

  /** Check labels (integers in [0, numClasses]) and return them on the host. */
  private checkLabels(labels: Labels): Int32Array {
    let values: ArrayLike<number>;
    if (labels instanceof tf.Tensor) {
      if (labels.rank !== 1) throw new Error(`labels must have shape (B), got [${labels.shape}]`);
      values = readSync(labels, "labels");
    } else values = labels;
    if (values.length === 0) throw new Error("labels: empty batch");
    const n = this.config.numClasses;
    const bad = Array.from(values).filter((v) => !(Number.isInteger(v) && v >= 0 && v <= n));
    if (bad.length) {
      throw new RangeError(`class labels must be integers in [0, ${n}] (${n} = no class), got ${[...new Set(bad)].slice(0, 10).join(", ")}`);
    }
    return Int32Array.from(values);
  }

  /** Tensors of the condition from class embeddings (B, C), untracked (callers tidy). */
  private conditionTensors(classEmb: tf.Tensor2D): { blockMods: tf.Tensor4D[]; headMod: tf.Tensor4D } {
    // Shared AdaLN: one (B, 1, 6, C) projection offset per block by its ada_gss; else each block projects the embedding.
    const condOrGss = this.shared_ada_lin ? tf.reshape(this.shared_ada_lin.forward(classEmb), [-1, 1, 6, this.config.embedDim]) : classEmb;
    return {
      blockMods: this.blocks.items.map((b) => b.modulation(condOrGss)),
      headMod: this.head_nm.modulation(classEmb),
    };
  }

  /**
   * The class condition of a batch, for inference. For classifier-free
   * guidance pass the doubled batch yourself: the labels followed by as many
   * `numClasses` ("no class") entries.
   */
  condition(labels: Labels): VarCondition {
    const lab = this.checkLabels(labels);
    const t = tf.tidy(() => {
      const labelsT = tf.tensor1d(lab, "int32");
      const classEmb = this.class_emb.forward(labelsT) as tf.Tensor2D;
      return { labels: labelsT, classEmb, ...this.conditionTensors(classEmb) };
    });
    return {
      batchSize: lab.length,
      ...t,
      dispose: () => tf.dispose([t.labels, t.classEmb, ...t.blockMods, t.headMod]),
    };
  }

  // ----------------------------------------------------------------- training

  /**
   * Training forward over the whole pyramid with the block-causal mask
   * (official `VAR.forward`): labels (B), teacher-forcing input
   * `x_BLCv_wo_first_l` (B, L − firstL, Cvae) → logits (B, L, V).
   * Class dropout is off unless `opts.condDropRate` > 0.
   */
  forward(labels: Labels, xBLCvWoFirstL: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor3D {
    const lab = this.checkLabels(labels);
    const B = lab.length;
    const { cvae } = this.config;
    const want = [B, this.L - this.firstL, cvae];
    if (!tf.util.arraysEqual(xBLCvWoFirstL.shape, want)) {
      throw new Error(`x_BLCv_wo_first_l must have shape (B, L - first_l, Cvae) = [${want}], got [${xBLCvWoFirstL.shape}]`);
    }
    const rate = opts.condDropRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`condDropRate must be in [0, 1], got ${rate}`);
    if (rate > 0) {
      if (!opts.random) throw new Error("class dropout needs a seeded uniform source: pass opts.random");
      for (let b = 0; b < B; b++) if (opts.random() < rate) lab[b] = this.config.numClasses;
    }
    const dpr = opts.dropPathRate ?? 0;
    if (!(dpr >= 0 && dpr < 1)) throw new RangeError(`dropPathRate must be in [0, 1), got ${dpr}`);
    if (dpr > 0 && !opts.random) throw new Error("drop path needs a seeded uniform source: pass opts.random");
    // Per block: the attention and FFN branches' per-sample multipliers (0 or 1/keep), or null without drop path.
    const masks = dropPathRates(dpr, this.config.depth).map((p): [Float32Array | null, Float32Array | null] => {
      if (p <= 0) return [null, null];
      const keep = 1 - p;
      const draw = () => Float32Array.from({ length: B }, () => (opts.random!() < keep ? 1 / keep : 0));
      const attn = draw();
      return [attn, draw()];
    });
    return tf.tidy(() => {
      const classEmb = this.class_emb.forward(tf.tensor1d(lab, "int32")) as tf.Tensor2D; // (B, C)
      const sos = tf.add(tf.expandDims(classEmb, 1), this.pos_start.value); // (B, firstL, C)
      let x = tf.concat([sos, this.word_embed.forward(xBLCvWoFirstL)], 1) as tf.Tensor3D; // (B, L, C)
      const lvlPos = tf.add(this.lvl_embed.forward(this.lvl_1L.value), this.pos_1LC.value); // (1, L, C)
      x = tf.add(x, lvlPos);
      const { blockMods, headMod } = this.conditionTensors(classEmb);
      const mask = this.attn_bias_for_masking.value;
      this.blocks.items.forEach((b, i) => {
        const [ma, mf] = masks[i];
        const m = (v: Float32Array | null) => (v ? tf.tensor3d(v, [B, 1, 1]) : null);
        const drop = ma || mf ? ([m(ma), m(mf)] as const) : undefined;
        if (!opts.recompute) {
          x = b.forward(x, blockMods[i], mask, undefined, drop);
          return;
        }
        // inputs of the recomputed block: x, its modulation, and the drop-path multipliers there are
        const extra = (drop ?? []).filter((t) => t !== null) as tf.Tensor3D[];
        const run = ([h, mod, ...ds]: tf.Tensor[]) => {
          let k = 0;
          const d = drop ? drop.map((t) => (t ? ds[k++] : null)) : undefined;
          return b.forward(h as tf.Tensor3D, mod as tf.Tensor4D, mask, undefined, d as [tf.Tensor | null, tf.Tensor | null] | undefined);
        };
        x = recompute(run, [x, blockMods[i], ...extra], b.trainableParameters().map((p) => p.value));
      });
      return this.head.forward(this.head_nm.forward(x, headMod)) as tf.Tensor3D;
    });
  }

  // ---------------------------------------------------------------- inference

  /** An empty KV cache for `forwardScale`. */
  newCache(): KVCache {
    return new KVCache(this.config.depth, this.config.patchNums);
  }

  /** lvl_embed[si] + pos_1LC[begin..end) of scale si: (1, l, C). */
  private levelPosition(si: number): tf.Tensor3D {
    const [b, e] = this.beginEnds[si];
    const C = this.config.embedDim;
    return tf.add(tf.slice(this.lvl_embed.weight.value, [si, 0], [1, C]), tf.slice(this.pos_1LC.value, [0, b, 0], [1, e - b, C]));
  }

  /** The first scale's input (B, firstL, C): class embedding + pos_start + its position and level embeddings. */
  embedFirstScale(cond: VarCondition): tf.Tensor3D {
    return tf.tidy(() => tf.add(tf.add(tf.expandDims(cond.classEmb, 1), this.pos_start.value), this.levelPosition(0)) as tf.Tensor3D);
  }

  /**
   * Scale si ≥ 1's input (B, pn², C) from its token map (B, pn², Cvae)
   * (the VQ-VAE's area-downsampled f_hat, row-major): word_embed plus the
   * scale's position and level embeddings. For guidance, double it yourself.
   */
  embedScale(si: number, tokens: tf.Tensor): tf.Tensor3D {
    const K = this.config.patchNums.length;
    if (!(Number.isInteger(si) && si >= 1 && si < K)) throw new RangeError(`embedScale: scale index must be in [1, ${K - 1}], got ${si}`);
    const l = this.config.patchNums[si] ** 2;
    if (tokens.rank !== 3 || tokens.shape[1] !== l || tokens.shape[2] !== this.config.cvae) {
      throw new Error(`embedScale(${si}): token map must have shape (B, ${l}, ${this.config.cvae}), got [${tokens.shape}]`);
    }
    return tf.tidy(() => tf.add(this.word_embed.forward(tokens), this.levelPosition(si)) as tf.Tensor3D);
  }

  /**
   * Run the next scale (index `cache.nextScale`) through every block with
   * the KV cache and return its logits (B, pn², V). `x` comes from
   * `embedFirstScale` or `embedScale`; AdaLN reads the class of each row from `cond`.
   */
  forwardScale(x: tf.Tensor3D, cond: VarCondition, cache: KVCache): tf.Tensor3D {
    const { patchNums, embedDim, depth } = this.config;
    if (cache.depth !== depth) throw new Error(`KV cache has ${cache.depth} slots, the model ${depth} blocks`);
    if (cache.complete) throw new Error(`KV cache already holds all ${patchNums.length} scales`);
    const si = cache.nextScale;
    const l = patchNums[si] ** 2;
    if (x.rank !== 3 || x.shape[0] !== cond.batchSize || x.shape[1] !== l || x.shape[2] !== embedDim) {
      throw new Error(`forwardScale: scale ${si} input must have shape (B, ${l}, ${embedDim}) with B = ${cond.batchSize} (the condition's batch), got [${x.shape}]`);
    }
    if (cache.batchSize !== null && cache.batchSize !== cond.batchSize) {
      throw new Error(`forwardScale: batch ${cond.batchSize} differs from the cached batch ${cache.batchSize}`);
    }
    const logits = tf.tidy(() => {
      let h = x;
      this.blocks.items.forEach((b, i) => {
        h = b.forward(h, cond.blockMods[i], null, cache);
      });
      return this.head.forward(this.head_nm.forward(h, cond.headMod)) as tf.Tensor3D;
    });
    cache.advance(l);
    return logits;
  }
}
