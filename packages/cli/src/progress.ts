/**
 * A progress bar on stderr with rate and ETA: redrawn in place on a
 * terminal, one line per 10% (or per 10 s without a total) otherwise, so
 * logs stay short.
 */
import type { CommandIO } from "./commands/types.js";

export function progressBar(io: CommandIO, label: string, unit = "img") {
  const tty = !!process.stderr.isTTY;
  const t0 = Date.now();
  let lastStep = -1;
  // from: units done before this run (a resumed download), left out of the rate
  return (p: { done: number; total?: number; from?: number }) => {
    const secs = (Date.now() - t0) / 1000;
    const rate = (p.done - (p.from ?? 0)) / Math.max(secs, 1e-3);
    let line: string;
    let step: number;
    if (p.total) {
      const f = Math.min(1, p.done / p.total);
      const w = 24;
      const fill = Math.round(f * w);
      const eta = rate > 0 ? Math.round((p.total - p.done) / rate) : 0;
      line = `${label} [${"#".repeat(fill)}${"-".repeat(w - fill)}] ${p.done}/${p.total} ${(f * 100).toFixed(0)}% ${rate.toFixed(1)} ${unit}/s ETA ${eta}s`;
      step = Math.floor(f * 10);
    } else {
      line = `${label} ${p.done} ${unit} ${rate.toFixed(1)} ${unit}/s`;
      step = Math.floor(secs / 10);
    }
    const finished = p.total !== undefined && p.done >= p.total;
    if (tty) io.err(`\r${line}${finished ? "\n" : ""}`);
    else if (step > lastStep || finished) io.err(`${line}\n`);
    lastStep = step;
  };
}
