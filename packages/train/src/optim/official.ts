/**
 * The official VAR optimizer recipe in one call: the official param groups,
 * AdamW (β 0.9/0.95, eps 1e-8, clipping at 2.0) and the official schedule
 * (peak lr 1e-4·batch/256, `lin0`, warm-up epochs/50 from 0.005×, down to
 * 0.01×, weight decay 0.05 on the decayed group).
 */
import type { Module, Parameter } from "@nextscale/core";
import { AdamW, type AdamWOptions } from "./adamw.js";
import { type ParamGroupOptions, paramGroups } from "./param-groups.js";
import { OfficialSchedule, type OfficialScheduleOptions } from "./schedule.js";

export interface OfficialOptimizerOptions extends OfficialScheduleOptions, AdamWOptions, ParamGroupOptions {}

export function createOfficialOptimizer(
  model: Module | [string, Parameter][],
  opts: OfficialOptimizerOptions,
): { optimizer: AdamW; schedule: OfficialSchedule } {
  const schedule = new OfficialSchedule(opts);
  const groups = paramGroups(model, { noWeightDecayKeys: opts.noWeightDecayKeys, lr: schedule.options.peakLr });
  const optimizer = new AdamW(groups, { betas: opts.betas, eps: opts.eps, gradClip: opts.gradClip });
  return { optimizer, schedule };
}
