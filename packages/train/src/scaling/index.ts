/** Scaling laws: the ladder of model sizes, the power-law fits, the plots. */
export { analyzeScaling, type HeldOutCheck, lawText, SCALING_METRICS, type ScalingAnalysis, type ScalingMetric, scalingFigures, scalingPlotFiles } from "./analysis.js";
export { budgetSteps, evaluateVar, type LadderBudget, type LadderEvent, type LadderOptions, type LadderRun, ladderConfig, ladderParams, runScalingLadder, type VarEvaluation } from "./ladder.js";
export { type CurvePoint, computeFrontier, type FrontierPoint, fitPowerLaw, type PowerLawFit, powerLaw, studentT975, trainingFlops } from "./power-law.js";
