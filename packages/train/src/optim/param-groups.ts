/**
 * Param groups as the official trainer forms them (FoundationVision/VAR
 * `utils/lr_control.py` `filter_params`, with the no-decay keys of its
 * `train.py`): a trainable parameter goes to the no-decay group "ND"
 * (weight-decay scale 0) when it is 1-D, when its name ends with `bias`, or
 * when its name contains one of the no-decay keys as a substring; every other
 * parameter goes to "D" (scale 1). Groups appear in the order of their first
 * parameter, parameters in state-dict order; both groups have lr scale 1.
 */
import type { Module, Parameter } from "@nextscale/core";

/** The no-decay keys the official train.py passes to filter_params (substrings of parameter names). */
export const OFFICIAL_NO_WEIGHT_DECAY_KEYS: readonly string[] = [
  "cls_token",
  "start_token",
  "task_token",
  "cfg_uncond",
  "pos_embed",
  "pos_1LC",
  "pos_start",
  "start_pos",
  "lvl_embed",
  "gamma",
  "beta",
  "ada_gss",
  "moe_bias",
  "scale_mul",
];

export interface ParamGroup {
  /** "D" (decayed) or "ND" (no decay), as the official code names them. */
  name: string;
  /** State-dict names and parameters, in state-dict order. */
  params: [string, Parameter][];
  /** Multiplies the scheduled lr (`lr_sc`). */
  lrScale: number;
  /** Multiplies the scheduled weight decay (`wd_sc`). */
  wdScale: number;
  /** The group's current lr (set by the schedule). */
  lr: number;
  /** The group's current weight decay (set by the schedule). */
  weightDecay: number;
}

export interface ParamGroupOptions {
  /** Substrings that put a parameter in the no-decay group (default: the official list). */
  noWeightDecayKeys?: readonly string[];
  /** The groups' initial lr (the official optimizer is built with lr = tlr, weight_decay = 0). */
  lr?: number;
}

/** Whether the official rule decays a parameter of this name and PyTorch shape. */
export function isDecayed(name: string, shape: readonly number[], noWeightDecayKeys: readonly string[] = OFFICIAL_NO_WEIGHT_DECAY_KEYS): boolean {
  return !(shape.length === 1 || name.endsWith("bias") || noWeightDecayKeys.some((k) => name.includes(k)));
}

/**
 * Split a module's trainable parameters (or a list of named parameters) into
 * the official param groups. Buffers (not trainable) are left out.
 */
export function paramGroups(source: Module | [string, Parameter][], opts: ParamGroupOptions = {}): ParamGroup[] {
  const keys = opts.noWeightDecayKeys ?? OFFICIAL_NO_WEIGHT_DECAY_KEYS;
  const named = Array.isArray(source) ? source : source.namedParameters();
  const groups = new Map<string, ParamGroup>();
  for (const [rawName, p] of named) {
    if (!p.opts.trainable) continue;
    const name = rawName.replaceAll("_fsdp_wrapped_module.", "");
    const decayed = isDecayed(name, p.shape, keys);
    const g = decayed ? "D" : "ND";
    if (!groups.has(g)) groups.set(g, { name: g, params: [], lrScale: 1, wdScale: decayed ? 1 : 0, lr: opts.lr ?? 0, weightDecay: 0 });
    groups.get(g)!.params.push([name, p]);
  }
  return [...groups.values()];
}
