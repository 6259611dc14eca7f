/**
 * The run's metrics as JSON Lines: one object per line, appended as the run
 * goes (a resumed run appends to the same file), so a crash loses at most
 * the line being written and `nextscale train plot` can read a log while
 * the run is still going.
 *
 * Lines have an `event`: "start" (the run's configuration), "step" (one
 * training step's metrics), "checkpoint", "sample" (a grid written), "end".
 * `readMetricsLog` skips a last line cut short; steps repeated by a resumed
 * run (steps after its checkpoint that were logged before it stopped) are
 * kept only in their last version.
 *
 * Node only (`node:fs`).
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Json } from "./checkpoint/format.js";

export type MetricsEvent = "start" | "step" | "checkpoint" | "sample" | "end";

export interface MetricsRecord {
  event: MetricsEvent;
  /** ISO time the line was written. */
  time: string;
  step?: number;
  [key: string]: Json | undefined;
}

export class MetricsLog {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }
  /** Append one record (the time is added). Non-finite numbers are written as null (JSON has no NaN). */
  write(event: MetricsEvent, fields: Record<string, unknown> = {}): void {
    const line = JSON.stringify({ event, time: new Date().toISOString(), ...fields }, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
    appendFileSync(this.path, `${line}\n`);
  }
}

export class MetricsLogError extends Error {
  override name = "MetricsLogError";
}

/**
 * The records of a log, in order; a resumed run's repeated steps replace the
 * earlier ones (the run from the checkpoint is the one that counts).
 * A last line cut short is skipped; any other line that is not JSON is an error naming it.
 */
export function readMetricsLog(path: string): MetricsRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new MetricsLogError(`${path}: cannot read the metrics log (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = text.split("\n");
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) return; // the line being written when the run stopped
      throw new MetricsLogError(`${path}:${i + 1}: not a JSON line (a nextscale metrics log has one JSON object per line)`);
    }
    if (!r || typeof r !== "object" || typeof (r as MetricsRecord).event !== "string") {
      throw new MetricsLogError(`${path}:${i + 1}: not a metrics record (no "event")`);
    }
    out.push(r as MetricsRecord);
  });
  // A resumed run logs again the steps after its checkpoint: keep each step's last record.
  const lastOf = new Map<number, number>();
  out.forEach((r, i) => {
    if (r.event === "step" && typeof r.step === "number") lastOf.set(r.step, i);
  });
  return out.filter((r, i) => r.event !== "step" || typeof r.step !== "number" || lastOf.get(r.step) === i);
}
