/** Numeric flag values, checked, with one-line errors naming the flag (exit status 2). */
import { UsageError } from "./commands/types.js";

/** A number passing `check` (`what` says what is expected), or `fallback` when the flag is absent. */
export function num(v: string | undefined, flag: string, fallback: number, check: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UsageError(`${flag} must be ${what} (got "${v}")`);
  return x;
}

/** An integer ≥ `min` (default 1). */
export function int(v: string | undefined, flag: string, fallback: number, min = 1): number {
  return num(v, flag, fallback, (x) => Number.isSafeInteger(x) && x >= min, `an integer ≥ ${min}`);
}

/** Positive integers separated by commas. */
export function ints(v: string | undefined, flag: string, fallback: number[]): number[] {
  if (v === undefined) return fallback;
  const parts = v.split(",").map((s) => s.trim());
  const xs = parts.map(Number);
  if (!parts.length || parts.some((s) => !/^\d+$/.test(s)) || xs.some((x) => !Number.isSafeInteger(x) || x < 1)) {
    throw new UsageError(`${flag} must be positive integers separated by commas (got "${v}")`);
  }
  return xs;
}
