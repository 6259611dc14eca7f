export { AdamW, type AdamWOptions, type AdamWParamState, type AdamWState, type Grads } from "./adamw.js";
export { type ClipResult, clipGradNorm } from "./clip.js";
export { createOfficialOptimizer, type OfficialOptimizerOptions } from "./official.js";
export { isDecayed, OFFICIAL_NO_WEIGHT_DECAY_KEYS, type ParamGroup, type ParamGroupOptions, paramGroups } from "./param-groups.js";
export {
  type AnnealingOptions,
  applySchedule,
  lrWdAnnealing,
  OfficialSchedule,
  type OfficialScheduleOptions,
  officialPeakLr,
  pyRound,
  type ScheduleType,
} from "./schedule.js";
