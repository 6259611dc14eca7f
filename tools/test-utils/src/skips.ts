/**
 * The reasoned skip list (conformance-skips.json): which tests a backend
 * skips, each with its reason. No backend import, so a harness that picks its
 * backend itself (the demo's headless-Chromium tests) can read it too.
 */
import { readFileSync } from "node:fs";

export interface Skip {
  backend: string;
  /** The test file, path from the repository root. */
  file: string;
  /** A part of the test's full name ("describe > test"); absent: every test in the file. */
  test?: string;
  reason: string;
}

/** The skip list's entries for one backend. */
export function conformanceSkips(backend: string): Skip[] {
  const list = JSON.parse(readFileSync(new URL("../conformance-skips.json", import.meta.url), "utf8")) as { skips: Skip[] };
  return list.skips.filter((s) => s.backend === backend);
}

/** The entry among `skips` that names this test (file from the repository root, full name "describe > test"), if any. */
export function findSkip(skips: readonly Skip[], file: string, fullName: string): Skip | undefined {
  return skips.find((s) => s.file === file && (s.test === undefined || fullName.includes(s.test)));
}
