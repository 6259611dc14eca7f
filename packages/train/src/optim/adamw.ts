/**
 * AdamW as `torch.optim.AdamW` (PyTorch 1.13, the single-tensor path) with
 * the official VAR settings by default: betas (0.9, 0.95), eps 1e-8 (torch's
 * default, which the official code keeps), no amsgrad, and gradient-norm
 * clipping at 2.0 before the step (the official `tclip`, done as
 * `clip_grad_norm_`). Per parameter with a gradient, in float32 on the
 * active backend and in torch's order of operations:
 *
 *   step += 1
 *   p  ← p · (1 − lr·wd)                          (decoupled decay first)
 *   m  ← m·β1 + g·(1 − β1)
 *   v  ← v·β2 + g·g·(1 − β2)
 *   p  ← p − lr/(1 − β1^step) · m / (√v / √(1 − β2^step) + eps)
 *
 * Where the active backend registers the contract's AdamWUpdate
 * kernel (native), each parameter's step (the clip coefficient included)
 * is that one kernel, which rounds every operation as the plain ops do.
 *
 * A parameter without a gradient in a step is left alone (its step count
 * does not advance), as torch skips parameters whose grad is None.
 *
 * The state (`state()` / `loadState()`) is plain data: per parameter, by
 * state-dict name, its step count and exp_avg / exp_avg_sq as float32 arrays
 * in PyTorch layout, plus the groups' hyper-parameters, ready for a
 * checkpoint writer to serialise.
 */
import { AdamWUpdate, type AdamWUpdateAttrs, fromInternal, type Parameter, toInternalLayout } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { clipCoefficient, clipGradNorm } from "./clip.js";
import type { ParamGroup } from "./param-groups.js";

export interface AdamWOptions {
  /** (β1, β2); official (0.9, 0.95). */
  betas?: [number, number];
  /** Added to √v̂; torch's default 1e-8. */
  eps?: number;
  /** Clip the total gradient norm to this before each step; ≤ 0 turns clipping off. Official 2.0. */
  gradClip?: number;
}

/** One parameter's optimizer state, as torch keeps it (`step`, `exp_avg`, `exp_avg_sq`). */
export interface AdamWParamState {
  /** Steps this parameter has taken. */
  step: number;
  /** PyTorch shape of the moments (the parameter's). */
  shape: number[];
  /** First moment in PyTorch layout (row-major over `shape`). */
  expAvg: Float32Array;
  /** Second moment in PyTorch layout. */
  expAvgSq: Float32Array;
}

/** The optimizer's whole state as plain data (numbers, strings, float32 arrays). */
export interface AdamWState {
  betas: [number, number];
  eps: number;
  gradClip: number;
  /** The groups in order: name, parameter names, scales and current lr / weight decay. */
  groups: { name: string; params: string[]; lrScale: number; wdScale: number; lr: number; weightDecay: number }[];
  /** Per parameter that has taken a step, by state-dict name. */
  params: Record<string, AdamWParamState>;
}

interface Slot {
  step: number;
  m: tf.Tensor;
  v: tf.Tensor;
}

/** Gradients by state-dict name or by the parameter's tf variable name (what `tf.variableGrads` returns). */
export type Grads = Record<string, tf.Tensor | undefined | null>;

export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  readonly gradClip: number;
  private readonly slots = new Map<string, Slot>();

  constructor(
    readonly groups: ParamGroup[],
    opts: AdamWOptions = {},
  ) {
    this.betas = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.gradClip = opts.gradClip ?? 2.0;
    const seen = new Set<string>();
    for (const g of groups) {
      for (const [n] of g.params) {
        if (seen.has(n)) throw new Error(`AdamW: parameter "${n}" is in more than one group`);
        seen.add(n);
      }
    }
  }

  /** Every (name, parameter) of every group, in order. */
  namedParameters(): [string, Parameter][] {
    return this.groups.flatMap((g) => g.params);
  }

  /** The parameters' tf variables (the `varList` for `tf.variableGrads`). */
  variables(): tf.Variable[] {
    return this.namedParameters().map(([, p]) => p.value);
  }

  /** Look up each parameter's gradient by state-dict name, then by its variable's name. */
  private gradsOf(grads: Grads): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [n, p] of this.namedParameters()) {
      const g = grads[n] ?? (p.isSet ? grads[p.value.name] : undefined);
      if (!g) continue;
      if (!tf.util.arraysEqual(g.shape, p.internalShape)) {
        throw new Error(`AdamW: gradient of "${n}" has shape [${g.shape}], the parameter [${p.internalShape}]`);
      }
      out[n] = g;
    }
    return out;
  }

  /**
   * Clip (if `gradClip` > 0) and take one step with the groups' current lr
   * and weight decay. The gradients stay the caller's (dispose them after).
   * Returns the total gradient norm before clipping (as clip_grad_norm_;
   * the caller disposes it), or null when clipping is off.
   */
  step(grads: Grads): tf.Scalar | null {
    if (tf.getKernel(AdamWUpdate, tf.getBackend()) && Object.values(this.gradsOf(grads)).every((t) => t.dtype === "float32")) return this.fusedStep(grads);
    let g = this.gradsOf(grads);
    let norm: tf.Scalar | null = null;
    let owned: tf.Tensor[] = [];
    if (this.gradClip > 0) {
      const c = clipGradNorm(g, this.gradClip);
      g = c.grads;
      norm = c.totalNorm;
      owned = Object.values(c.grads);
    }
    const [b1, b2] = this.betas;
    const f32 = (x: number) => tf.scalar(Math.fround(x));
    for (const group of this.groups) {
      for (const [n, p] of group.params) {
        const grad = g[n];
        if (!grad) continue;
        const slot = this.advance(n, p);
        const bc1 = 1 - b1 ** slot.step;
        const bc2Sqrt = Math.sqrt(1 - b2 ** slot.step);
        const stepSize = group.lr / bc1;
        const s = slot;
        const [np, nm, nv] = tf.tidy(() => {
          const decayed = tf.mul(p.value, f32(1 - group.lr * group.weightDecay));
          const m = tf.add(tf.mul(s.m, f32(b1)), tf.mul(grad, f32(1 - b1)));
          const v = tf.add(tf.mul(s.v, f32(b2)), tf.mul(tf.mul(grad, grad), f32(1 - b2)));
          const denom = tf.add(tf.div(tf.sqrt(v), f32(bc2Sqrt)), f32(this.eps));
          const upd = tf.add(decayed, tf.mul(f32(-stepSize), tf.div(m, denom)));
          return [upd, m, v];
        });
        s.m.dispose();
        s.v.dispose();
        s.m = nm;
        s.v = nv;
        p.value.assign(np);
        np.dispose();
      }
    }
    tf.dispose(owned);
    return norm;
  }

  /** Parameter n's moments (zeros the first time), its step count advanced by one. */
  private advance(n: string, p: Parameter): Slot {
    let slot = this.slots.get(n);
    if (!slot) {
      slot = { step: 0, m: tf.zeros(p.internalShape), v: tf.zeros(p.internalShape) };
      this.slots.set(n, slot);
    }
    slot.step += 1;
    return slot;
  }

  /** step() with one AdamWUpdate kernel per parameter (the clip coefficient passed in, not applied first). */
  private fusedStep(grads: Grads): tf.Scalar | null {
    const g = this.gradsOf(grads);
    const clip = this.gradClip > 0 ? clipCoefficient(Object.values(g), this.gradClip) : null;
    const [b1, b2] = this.betas;
    for (const group of this.groups) {
      for (const [n, p] of group.params) {
        const grad = g[n];
        if (!grad) continue;
        const slot = this.advance(n, p);
        const attrs: AdamWUpdateAttrs = {
          decay: 1 - group.lr * group.weightDecay,
          beta1: b1,
          oneMinusBeta1: 1 - b1,
          beta2: b2,
          oneMinusBeta2: 1 - b2,
          bc2Sqrt: Math.sqrt(1 - b2 ** slot.step),
          eps: this.eps,
          negStepSize: -(group.lr / (1 - b1 ** slot.step)),
        };
        const inputs: tf.NamedTensorMap = { param: p.value, grad, m: slot.m, v: slot.v };
        if (clip) inputs.gradScale = clip.coef;
        const [np, nm, nv] = tf.engine().runKernel(AdamWUpdate, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        slot.m.dispose();
        slot.v.dispose();
        slot.m = nm;
        slot.v = nv;
        p.value.assign(np);
        np.dispose();
      }
    }
    clip?.coef.dispose();
    return clip?.totalNorm ?? null;
  }

  /** The optimizer state as plain data (moments in PyTorch layout). */
  async state(): Promise<AdamWState> {
    const params: Record<string, AdamWParamState> = {};
    for (const [n, p] of this.namedParameters()) {
      const s = this.slots.get(n);
      if (!s) continue;
      const m = fromInternal(s.m, p.opts.layout);
      const v = fromInternal(s.v, p.opts.layout);
      const [expAvg, expAvgSq] = (await Promise.all([m.data(), v.data()])) as Float32Array[];
      m.dispose();
      v.dispose();
      params[n] = { step: s.step, shape: [...p.shape], expAvg, expAvgSq };
    }
    return {
      betas: [...this.betas],
      eps: this.eps,
      gradClip: this.gradClip,
      groups: this.groups.map((g) => ({
        name: g.name,
        params: g.params.map(([n]) => n),
        lrScale: g.lrScale,
        wdScale: g.wdScale,
        lr: g.lr,
        weightDecay: g.weightDecay,
      })),
      params,
    };
  }

  /**
   * Restore a state from `state()` (or one converted from torch's
   * optimizer state dict). Every name must be one of this optimizer's
   * parameters with the same shape; problems are reported together. The
   * groups' lr / weight decay / scales are restored when the state's groups
   * name the same parameters in the same groups; otherwise this is an error.
   * betas, eps and gradClip are this optimizer's own (not overwritten).
   */
  loadState(state: AdamWState): void {
    const mine = new Map(this.namedParameters());
    const problems: string[] = [];
    for (const [n, s] of Object.entries(state.params)) {
      const p = mine.get(n);
      if (!p) {
        problems.push(`"${n}" is not a parameter of this optimizer`);
        continue;
      }
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (!tf.util.arraysEqual(s.shape, [...p.shape])) problems.push(`"${n}": shape [${s.shape}], the parameter [${p.shape}]`);
      else if (s.expAvg.length !== size || s.expAvgSq.length !== size) problems.push(`"${n}": ${s.expAvg.length}/${s.expAvgSq.length} values for ${size}`);
      if (!(Number.isInteger(s.step) && s.step >= 0)) problems.push(`"${n}": step ${s.step} is not a non-negative integer`);
    }
    if (state.groups.length !== this.groups.length) {
      problems.push(`${state.groups.length} groups in the state, ${this.groups.length} in this optimizer`);
    } else {
      state.groups.forEach((sg, i) => {
        const g = this.groups[i];
        const names = g.params.map(([n]) => n);
        if (sg.name !== g.name || sg.params.length !== names.length || sg.params.some((n, j) => n !== names[j])) problems.push(`group ${i} ("${g.name}") holds other parameters in the state ("${sg.name}")`);
      });
    }
    if (problems.length) throw new Error(`AdamW.loadState: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
    for (const [n, s] of Object.entries(state.params)) {
      const p = mine.get(n)!;
      const shape = p.internalShape;
      const internal = (a: Float32Array) =>
        tf.tensor(p.opts.layout === "torch" ? a.slice() : toInternalLayout(a, p.shape, p.opts.layout, new Float32Array(a.length)), shape, "float32");
      this.slots.set(n, { step: s.step, m: internal(s.expAvg), v: internal(s.expAvgSq) });
    }
    state.groups.forEach((sg, i) => {
      Object.assign(this.groups[i], { lrScale: sg.lrScale, wdScale: sg.wdScale, lr: sg.lr, weightDecay: sg.weightDecay });
    });
  }

  /** Free the moments. */
  dispose(): void {
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
  }
}
