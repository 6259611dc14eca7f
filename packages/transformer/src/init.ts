/**
 * Random initialisation for training from scratch, the scheme of the
 * official `VAR.__init__` + `VAR.init_weights` (FoundationVision/VAR
 * `models/var.py`) with the defaults of `train.py` / `utils/arg_util.py`
 * (`--ini=-1 --hd=0.02 --aln=0.5 --alng=1e-5`):
 *
 * | parameter | value |
 * | --- | --- |
 * | every Linear weight, `class_emb`, `lvl_embed` | trunc_normal(std = init_std), init_std < 0 → √(1/(3C)) |
 * | every Linear bias, `q_bias`, `v_bias` | 0 |
 * | `pos_start`, `pos_1LC` | trunc_normal(std = √(1/(3C))) (set in `__init__`, untouched by `init_weights`) |
 * | `head.weight` | × init_head |
 * | `head_nm.ada_lin.1.weight` | × init_adaln |
 * | `blocks.N.attn.proj.weight`, `blocks.N.ffn.fc2.weight` | ÷ √(2·depth) |
 * | `blocks.N.ada_lin.1.weight` | rows [0, 2C) (γ1, γ2) × init_adaln_gamma, rows [2C, 6C) × init_adaln |
 * | `blocks.N.ada_gss` (shared AdaLN) | randn / √C, then γ × init_adaln_gamma, the rest × init_adaln |
 * | `shared_ada_lin.1` | plain Linear init |
 * | `scale_mul_1H11` | log 4 |
 *
 * trunc_normal is PyTorch's: a normal truncated to the absolute interval
 * [-2, 2]. Values are drawn on the host from a seeded `Random`, one
 * parameter at a time, so a model is never held twice.
 */
import type { LoadTransform, Parameter, Random } from "@nextscale/core";
import type { VarTransformer } from "./var-transformer.js";

export interface VarInitOptions {
  /** Std of Linear and Embedding weights; < 0 for √(1/(3C)) (official default -1). */
  initStd?: number;
  /** Multiplier of the AdaLN scale/shift weights (official default 0.5). */
  initAdaln?: number;
  /** Multiplier of the AdaLN gate (γ) weights (official default 1e-5). */
  initAdalnGamma?: number;
  /** Multiplier of the head weight (official default 0.02). */
  initHead?: number;
  /** How each drawn value is set, as in loading (e.g. `packWhileLoading(model)` for inference benchmarks); default `setTorchHost`. */
  transform?: LoadTransform;
  /**
   * Called after each parameter is set: `loaded` of `total` parameters (as
   * `loadStateDict`'s `onProgress` counts them) and `elements` of
   * `totalElements` values drawn (the time is about proportional to these:
   * d16 has 310M, in parameters of 1 to 6.3M values).
   */
  onProgress?: (p: VarInitProgress) => void;
}

export interface VarInitProgress {
  loaded: number;
  total: number;
  /** The parameter just set. */
  key: string;
  elements: number;
  totalElements: number;
}

/** Initialise every parameter and buffer of `model` from `random` (same seed, same weights). */
export function initWeights(model: VarTransformer, random: Random, opts: VarInitOptions = {}): void {
  const { embedDim: C, depth } = model.config;
  const initAdaln = opts.initAdaln ?? 0.5;
  const initAdalnGamma = opts.initAdalnGamma ?? 1e-5;
  const initHead = opts.initHead ?? 0.02;
  const autoStd = Math.sqrt(1 / C / 3);
  const std = (opts.initStd ?? -1) < 0 ? autoStd : opts.initStd!;

  // How to draw each parameter, as a multiplier per element applied to a base sample.
  type Rule = { base: "trunc" | "randn" | "zeros" | "const"; std?: number; value?: number; scale?: (i: number) => number };
  const rules = new Map<Parameter, Rule>();
  const linear = (lin: { weight: Parameter; bias: Parameter | null }, scale?: (i: number) => number) => {
    rules.set(lin.weight, { base: "trunc", std, scale });
    if (lin.bias) rules.set(lin.bias, { base: "zeros" });
  };
  const by = (k: number) => () => k;

  rules.set(model.pos_start, { base: "trunc", std: autoStd });
  rules.set(model.pos_1LC, { base: "trunc", std: autoStd });
  linear(model.word_embed);
  rules.set(model.class_emb.weight, { base: "trunc", std });
  rules.set(model.lvl_embed.weight, { base: "trunc", std });
  if (model.shared_ada_lin) linear(model.shared_ada_lin.lin);
  const residual = by(1 / Math.sqrt(2 * depth));
  // Rows [0, 2C) of the 6C modulations are the gates γ1, γ2.
  const gates = (rowLen: number) => (i: number) => (Math.floor(i / rowLen) < 2 * C ? initAdalnGamma : initAdaln);
  for (const b of model.blocks.items) {
    if (b.ada_gss) rules.set(b.ada_gss, { base: "randn", std: 1 / Math.sqrt(C), scale: gates(1) });
    if (b.attn.scale_mul_1H11) rules.set(b.attn.scale_mul_1H11, { base: "const", value: Math.log(4) });
    rules.set(b.attn.q_bias, { base: "zeros" });
    rules.set(b.attn.v_bias, { base: "zeros" });
    linear(b.attn.mat_qkv);
    linear(b.attn.proj, residual);
    linear(b.ffn.fc1);
    linear(b.ffn.fc2, residual);
    if (b.ada_lin) linear(b.ada_lin.lin, gates(C));
  }
  linear(model.head_nm.ada_lin.lin, by(initAdaln));
  linear(model.head, by(initHead));

  const size = (p: Parameter) => p.shape.reduce((a, b) => a * b, 1);
  const params = model.namedParameters().filter(([, p]) => p.opts.trainable); // buffers: below
  const totalElements = params.reduce((s, [, p]) => s + size(p), 0);
  let elements = 0;
  for (const [i, [name, p]] of params.entries()) {
    const rule = rules.get(p);
    if (!rule) throw new Error(`initWeights: no rule for parameter "${name}"`);
    const n = size(p);
    const data = new Float32Array(n);
    if (rule.base === "trunc") random.fill(data, (r) => r.truncNormal(0, rule.std!, -2, 2));
    else if (rule.base === "randn") random.fill(data, (r) => r.normal(0, rule.std!));
    else if (rule.base === "const") data.fill(rule.value!);
    if (rule.scale) for (let i = 0; i < n; i++) data[i] *= rule.scale(i);
    if (opts.transform) opts.transform.set(p, data);
    else p.setTorchHost(data);
    elements += n;
    opts.onProgress?.({ loaded: i + 1, total: params.length, key: name, elements, totalElements });
  }
  opts.transform?.done?.();
  model.initBuffers();
}
