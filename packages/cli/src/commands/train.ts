/** `nextscale train vqvae|var|plot`: the two training stages and the loss curves of a run. */
import { runTrainPlot, trainPlotUsage } from "./train-plot.js";
import { runTrainVar, trainVarUsage } from "./train-var.js";
import { runTrainVqvae, trainVqvaeUsage } from "./train-vqvae.js";
import { type Command, UsageError } from "./types.js";

const SUB = {
  vqvae: { run: runTrainVqvae, usage: trainVqvaeUsage },
  var: { run: runTrainVar, usage: trainVarUsage },
  plot: { run: runTrainPlot, usage: trainPlotUsage },
} as const;

export const train: Command = {
  name: "train",
  ownHelp: true,
  summary: "train a VQ-VAE (train vqvae) or a VAR on its tokens (train var); plot a run (train plot)",
  usage: `usage: nextscale train vqvae|var|plot [options]   (nextscale train <stage> --help for each)

  vqvae   stage 1: the multi-scale VQ-VAE, on IDX files or class folders
  var     stage 2: a class-conditional VAR on the frozen VQ-VAE's token maps
  plot    loss curves of a run from its metrics.jsonl, as a PNG

A run lives in one folder (--out): checkpoints every N steps, at the end and on
Ctrl-C, metrics.jsonl, samples/, the final model and loss.png; the same command
again resumes it exactly.`,
  async run(args, io) {
    const [stage, ...rest] = args;
    if (stage === "--help" || stage === "-h") {
      io.out(`${train.usage}\n`);
      return 0;
    }
    const sub = SUB[stage as keyof typeof SUB];
    if (!sub) throw new UsageError(`train: the first argument is vqvae, var or plot (got ${stage === undefined ? "nothing" : `"${stage}"`})\n\n${train.usage}`);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(`${sub.usage}\n`);
      return 0;
    }
    return sub.run(rest, io);
  },
};
