/**
 * φ, the residual refinement applied to every scale's upsampled code map
 * before it is added to f̂ (paper §3.2; `Phi`, `PhiShared`,
 * `PhiPartiallyShared`, `PhiNonShared` in FoundationVision/VAR
 * `models/quant.py`): φ(h) = (1-r)·h + r·conv3×3(h).
 *
 * With `share_quant_resi = n > 1` there are n φ convs; scale k of K uses the
 * one whose tick is nearest to k/(K-1) (ticks = linspace(1/(3n), 1-1/(3n), n)
 * for n = 4, linspace(1/(2n), 1-1/(2n), n) otherwise, first on ties). The
 * ticks and distances are computed in float64 exactly as numpy does, because
 * exact ties do occur (K = 10, k = 2; K = 3, k = 1) and float rounding decides them.
 */
import { Conv2d, Module, ModuleList } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import type { VqvaeConfig } from "./config.js";

/** `Phi`: a 3×3 conv (Cvae -> Cvae) mixed with its input, φ(h) = (1-r)·h + r·conv(h). */
export class Phi extends Conv2d {
  readonly resiRatio: number;
  constructor(embedDim: number, quantResi: number) {
    super(embedDim, embedDim, 3, 1, 1);
    this.resiRatio = Math.abs(quantResi);
  }
  /** (B, H, W, Cvae) -> (B, H, W, Cvae) */
  override forward(h: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(tf.mul(h, 1 - this.resiRatio), tf.mul(super.forward(h), this.resiRatio)));
  }
}

/** `nn.Identity`, used instead of φ when |quant_resi| ≤ 1e-6 (no parameters). */
export class Identity extends Module {
  forward(h: tf.Tensor4D): tf.Tensor4D {
    return tf.clone(h);
  }
}

type PhiOrIdentity = Phi | Identity;
const makeOne = (config: VqvaeConfig): PhiOrIdentity =>
  Math.abs(config.quantResi) > 1e-6 ? new Phi(config.zChannels, config.quantResi) : new Identity();

/** numpy.linspace(start, stop, num) in float64, bit for bit (i·step + start, last = stop). */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const y = Array.from({ length: num }, (_, i) => i * step + start);
  y[num - 1] = stop;
  return y;
}

/** The ticks of `PhiPartiallyShared` / `PhiNonShared` for n φ convs. */
export function phiTicks(n: number): number[] {
  return n === 4 ? linspace(1 / 3 / n, 1 - 1 / 3 / n, n) : linspace(1 / 2 / n, 1 - 1 / 2 / n, n);
}

/** np.argmin(|ticks - at|): the first nearest tick. */
export function nearestTick(ticks: readonly number[], at: number): number {
  let best = 0;
  for (let i = 1; i < ticks.length; i++) if (Math.abs(ticks[i] - at) < Math.abs(ticks[best] - at)) best = i;
  return best;
}

/** Which φ each scale k of K uses (the index into the φ list). */
export function phiIndexPerScale(config: VqvaeConfig, K: number = config.patchNums.length): number[] {
  const n = phiCount(config, config.patchNums.length);
  if (config.shareQuantResi === 1) return Array(K).fill(0);
  const ticks = phiTicks(n);
  return Array.from({ length: K }, (_, k) => nearestTick(ticks, k / (K - 1)));
}

const phiCount = (c: VqvaeConfig, K: number) =>
  c.shareQuantResi === 0 ? c.defaultQresiCounts || K : c.shareQuantResi === 1 ? 1 : c.shareQuantResi;

/** The `quant_resi` module: picks the φ of scale k of K by its position k/(K-1) in [0, 1]. */
export interface PhiSelector extends Module {
  /** The φ for scale k of K (as `quant_resi[k/(K-1)]`). */
  forScale(k: number, K: number): PhiOrIdentity;
}

/** `PhiShared`: one φ for every scale (`quant_resi.qresi`). */
export class PhiShared extends Module implements PhiSelector {
  readonly qresi: PhiOrIdentity;
  constructor(qresi: PhiOrIdentity) {
    super();
    this.qresi = this.child("qresi", qresi);
  }
  forScale(): PhiOrIdentity {
    return this.qresi;
  }
}

/** `PhiPartiallyShared`: n φ (`quant_resi.qresi_ls.{i}`), chosen by the nearest tick. */
export class PhiPartiallyShared extends Module implements PhiSelector {
  readonly qresi_ls: ModuleList<PhiOrIdentity>;
  readonly ticks: readonly number[];
  constructor(qresi: PhiOrIdentity[]) {
    super();
    this.qresi_ls = this.child("qresi_ls", new ModuleList(qresi));
    this.ticks = phiTicks(qresi.length);
  }
  forScale(k: number, K: number): PhiOrIdentity {
    return this.qresi_ls.at(nearestTick(this.ticks, k / (K - 1)));
  }
}

/** `PhiNonShared`: one φ per scale (`quant_resi.{i}`), chosen by the nearest tick. */
export class PhiNonShared extends ModuleList<PhiOrIdentity> implements PhiSelector {
  readonly ticks: readonly number[];
  constructor(qresi: PhiOrIdentity[]) {
    super(qresi);
    this.ticks = phiTicks(qresi.length);
  }
  forScale(k: number, K: number): PhiOrIdentity {
    return this.at(nearestTick(this.ticks, k / (K - 1)));
  }
}

/** The `quant_resi` module the config asks for. */
export function makeQuantResi(config: VqvaeConfig): PhiSelector {
  const K = config.patchNums.length;
  const n = phiCount(config, K);
  const list = () => Array.from({ length: n }, () => makeOne(config));
  if (config.shareQuantResi === 0) return new PhiNonShared(list());
  if (config.shareQuantResi === 1) return new PhiShared(makeOne(config));
  return new PhiPartiallyShared(list());
}
