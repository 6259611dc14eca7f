/**
 * Shared test harness. Runs from source under vitest (never built or
 * published). Tests find fixtures through here, never through ../shared.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { backendFromEnv, initBackend } from "@nextscale/backends";
import { beforeEach } from "vitest";
import { conformanceSkips, findSkip } from "./skips.js";

/** The repository's copy of the reference fixtures (see test-fixtures/README.md). */
export const FIXTURES = resolve(fileURLToPath(new URL("../../../test-fixtures", import.meta.url)));

const ROOT = resolve(FIXTURES, "..");

let backendName: Promise<string> | undefined;
/**
 * Initialise the backend named by NEXTSCALE_BACKEND (default wasm, then cpu),
 * print it, and skip (with its reason) each test the skip list names for it.
 */
export async function setupTestBackend(): Promise<string> {
  backendName ??= initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"])).then((name) => {
    console.log(`backend: ${name}`);
    return name;
  });
  const name = await backendName;
  const skips = conformanceSkips(name);
  if (skips.length) {
    beforeEach((ctx) => {
      const file = ctx.task.file.filepath.slice(ROOT.length + 1).replaceAll("\\", "/");
      const names: string[] = [];
      for (let t: { name: string; suite?: unknown } | undefined = ctx.task; t && t !== ctx.task.file; t = t.suite as typeof t) {
        names.unshift(t.name);
      }
      const full = names.join(" > ");
      const skip = findSkip(skips, file, full);
      if (skip) ctx.skip(`skipped on ${name}: ${skip.reason}`);
    });
  }
  return name;
}

export interface Bundle {
  name: string;
  dir: string;
  meta: Record<string, any>;
  file(name: string): string;
  has(name: string): boolean;
}

function bundleAt(dir: string): Bundle {
  const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
  return {
    name: dir.split(/[\\/]/).filter(Boolean).pop()!,
    dir,
    meta,
    file: (n) => join(dir, n),
    has: (n) => existsSync(join(dir, n)),
  };
}

/** Directories under `root` (and in the env variable) whose meta.json satisfies `accept`. */
function discover(envVar: string, accept: (meta: Record<string, any>, dir: string) => boolean): Bundle[] {
  const dirs = readdirSync(FIXTURES)
    .map((d) => join(FIXTURES, d))
    .filter((d) => statSync(d).isDirectory() && existsSync(join(d, "meta.json")));
  for (const extra of (process.env[envVar] ?? "").split(delimiter).filter(Boolean)) {
    const dir = resolve(extra);
    if (!existsSync(join(dir, "meta.json"))) throw new Error(`${envVar}: ${dir} has no meta.json`);
    dirs.push(dir);
  }
  return dirs.map(bundleAt).filter((b) => accept(b.meta, b.dir));
}

/** VQ-VAE + VAR reference bundles: the fixtures' own and NEXTSCALE_REFERENCE_BUNDLES. */
export function referenceBundles(): Bundle[] {
  return discover("NEXTSCALE_REFERENCE_BUNDLES", (m) => m.vqvae !== undefined && m.var !== undefined);
}

/**
 * Zero-shot editing bundles made by the official demo's code (`meta.inpaint`,
 * see tools/fixtures/make_inpaint_10scale.py): the fixtures' own and any in
 * NEXTSCALE_REFERENCE_BUNDLES.
 */
export function inpaintBundles(): Bundle[] {
  return discover("NEXTSCALE_REFERENCE_BUNDLES", (m) => m.inpaint !== undefined);
}

/** FID bundles: the fixtures' own and NEXTSCALE_FID_BUNDLES. */
export function fidBundles(): Bundle[] {
  return discover("NEXTSCALE_FID_BUNDLES", (m) => m.frechet_distance !== undefined);
}

export interface ErrorStats {
  maxAbs: number;
  maxRel: number;
  /** Max |a-b| / max|b|: relative to the reference's scale. */
  scaledMax: number;
}

/** Element-wise error statistics of `got` against the reference `want`. */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>): ErrorStats {
  if (got.length !== want.length) throw new Error(`length mismatch: got ${got.length}, want ${want.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    const r = d / Math.max(Math.abs(want[i]), 1e-12);
    if (r > maxRel) maxRel = r;
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { maxAbs, maxRel, scaledMax: maxAbs / Math.max(scale, 1e-30) };
}

/** Print one parity line: bundle, quantity, measured errors. */
export function report(bundle: string, what: string, s: ErrorStats): void {
  console.log(
    `[parity] ${bundle} ${what}: max_abs=${s.maxAbs.toExponential(3)} max_rel_to_scale=${s.scaledMax.toExponential(3)}`,
  );
}

export { conformanceSkips, findSkip, type Skip } from "./skips.js";
export { type FileServer, type LoggedRequest, type Route, startFileServer } from "./file-server.js";
export { maxErr, randValues, tapeSavedBytes } from "./grad-check.js";
