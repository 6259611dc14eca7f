/**
 * A progress bar on stderr with rate and ETA: redrawn in place on a
 * terminal, one line per 10% (or per 10 s without a total) otherwise, so
 * logs stay short.
 */
import { basename } from "node:path";
import { formatBytes } from "@nextscale/core";
import type { LoadProgress } from "@nextscale/sampler";
import type { CommandIO } from "./commands/types.js";

export interface ProgressBarOptions {
  /** `done` and `total` are bytes: shown as "1.2 MB/4.0 GB", the rate in MB/s (`unit` is then unused). */
  bytes?: boolean;
  /**
   * Off a terminal, at least this many seconds between two lines (the last
   * line is always printed): a task shorter than that prints one line.
   * Default 0 (a line per 10%).
   */
  minInterval?: number;
}

export function progressBar(io: CommandIO, label: string, unit = "img", opts: ProgressBarOptions = {}) {
  const tty = !!process.stderr.isTTY;
  const t0 = Date.now();
  let lastStep = -1;
  let lastLine = t0;
  let lastLength = 0;
  const show = (n: number) => (opts.bytes ? formatBytes(n) : String(n));
  const speed = (r: number) => (opts.bytes ? `${formatBytes(Math.round(r))}/s` : `${r.toFixed(1)} ${unit}/s`);
  // from: units done before this run (a resumed download), left out of the rate
  return (p: { done: number; total?: number; from?: number }) => {
    const now = Date.now();
    const secs = (now - t0) / 1000;
    const rate = (p.done - (p.from ?? 0)) / Math.max(secs, 1e-3);
    let line: string;
    let step: number;
    if (p.total) {
      const f = Math.min(1, p.done / p.total);
      const w = 24;
      const fill = Math.round(f * w);
      const eta = rate > 0 ? `${Math.round((p.total - p.done) / rate)}s` : p.done >= p.total ? "0s" : "?";
      line = `${label} [${"#".repeat(fill)}${"-".repeat(w - fill)}] ${show(p.done)}/${show(p.total)} ${(f * 100).toFixed(0)}% ${speed(rate)} ETA ${eta}`;
      step = Math.floor(f * 10);
    } else {
      line = opts.bytes ? `${label} ${show(p.done)} ${speed(rate)}` : `${label} ${p.done} ${unit} ${speed(rate)}`;
      step = Math.floor(secs / 10);
    }
    const finished = p.total !== undefined && p.done >= p.total;
    if (tty) {
      io.err(`\r${line.padEnd(lastLength)}${finished ? "\n" : ""}`);
      lastLength = line.length;
    } else if (finished || (step > lastStep && (now - lastLine) / 1000 >= (opts.minInterval ?? 0))) {
      io.err(`${line}\n`);
      lastStep = step;
      lastLine = now;
    }
  };
}

/**
 * Progress bars for loading checkpoints (`loadModels`' `onProgress`): one per
 * file, labelled `loading <file>`, in bytes read with rate and ETA. Off a
 * terminal a file that loads within a second prints one line.
 */
export function loadingBars(io: CommandIO): (p: LoadProgress) => void {
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  return (p) => {
    const key = `${p.model}:${p.file}`;
    let bar = bars.get(key);
    if (!bar) {
      bar = progressBar(io, `loading ${basename(p.file)}`, "B", { bytes: true, minInterval: 1 });
      bars.set(key, bar);
    }
    bar({ done: p.bytes, total: p.totalBytes });
  };
}
