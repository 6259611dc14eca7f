/**
 * What `nextscale train vqvae` and `train var` share: the run folder
 * (checkpoints, metrics.jsonl, samples/, the final model, loss.png), Ctrl-C
 * (the first stops after the current step and writes a checkpoint; a
 * second quits at once), and the progress line: step, %, loss, lr, images/s,
 * tensor memory, ETA, redrawn in place on a terminal and printed every
 * `interval` seconds (and at checkpoints) otherwise.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { latestCheckpoint, MetricsLog } from "@nextscale/train";
import type { CommandIO } from "./commands/types.js";
import { prepareOutputDir } from "./output.js";

export interface RunFolder {
  dir: string;
  log: MetricsLog;
  /** The latest complete checkpoint when the folder holds one (the run resumes from it). */
  resumeFrom: string | undefined;
  samplesDir: string;
}

/** Create (or reopen) the run folder given with `--out`. */
export async function openRunFolder(dir: string, io: CommandIO): Promise<RunFolder> {
  prepareOutputDir(dir, "--out");
  const resumeFrom = await latestCheckpoint(dir, { onSkip: (p, why) => io.err(`skipping ${p}: ${why}\n`) });
  const samplesDir = join(dir, "samples");
  prepareOutputDir(samplesDir, "--out");
  return { dir, log: new MetricsLog(join(dir, "metrics.jsonl")), resumeFrom, samplesDir };
}

/**
 * Ctrl-C: the first SIGINT aborts the returned signal (the loop finishes its
 * step and writes a checkpoint); a second exits at once with status 130.
 * Call `release()` when the run ends.
 */
export function interruptSignal(io: CommandIO): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const onInt = () => {
    if (ac.signal.aborted) {
      io.err("\nsecond Ctrl-C: quitting without a checkpoint (the run resumes from the last one)\n");
      process.exit(130);
    }
    io.err("\nCtrl-C: stopping after this step and writing a checkpoint (Ctrl-C again to quit at once)\n");
    ac.abort();
  };
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onInt);
  return {
    signal: ac.signal,
    release: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onInt);
    },
  };
}

const duration = (s: number) => {
  if (!Number.isFinite(s)) return "?";
  s = Math.round(s);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
};

/**
 * The progress line of a training run. `first` is the step the run started
 * (or resumed) at: the rate and ETA count only the steps taken in this process.
 */
export function trainProgress(io: CommandIO, label: string, total: number, first: number, batch: number, interval = 10) {
  const tty = !!process.stderr.isTTY;
  const t0 = Date.now();
  let last = 0;
  let lastLength = 0;
  return (step: number, fields: Record<string, string>, force = false) => {
    const now = Date.now();
    const secs = (now - t0) / 1000;
    const done = step - first;
    const rate = done / Math.max(secs, 1e-3); // steps/s
    const f = Math.min(1, step / total);
    const w = 20;
    const fill = Math.round(f * w);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join(" ");
    const line = `${label} [${"#".repeat(fill)}${"-".repeat(w - fill)}] ${step}/${total} ${(f * 100).toFixed(0)}% ${extra} ${(rate * batch).toFixed(1)} img/s ETA ${duration((total - step) / rate)}`;
    const finished = step >= total;
    if (tty) {
      io.err(`\r${line.padEnd(lastLength)}${finished || force ? "\n" : ""}`);
      lastLength = force ? 0 : line.length;
    } else if (finished || force || (now - last) / 1000 >= interval || done === 1) {
      io.err(`${line}\n`);
      last = now;
    }
  };
}


/** Remove all but the newest `keep` checkpoints (`ckpt-<step>.safetensors`) of a run folder; keep 0 keeps all. */
export function pruneCheckpoints(dir: string, keep: number): void {
  if (keep <= 0) return;
  const ckpts = readdirSync(dir)
    .filter((n) => /^ckpt-\d+\.safetensors$/.test(n))
    .sort((a, b) => Number(b.slice(5, -12)) - Number(a.slice(5, -12)));
  for (const n of ckpts.slice(keep)) rmSync(join(dir, n), { force: true });
}
