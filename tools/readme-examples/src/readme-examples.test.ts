/**
 * Every README example runs as written. Each fenced ts/js/sh block of every
 * README.md in the repository runs in a folder of its own (under the
 * system's temporary folder) and must exit 0; a block that cannot run (a
 * fragment, an install from the registry, a command that needs the network,
 * the full-size models or a browser) carries `<!-- not-run: reason -->` on
 * the line before its fence, and is reported as skipped with that reason.
 *
 * - TypeScript/JavaScript: types stripped (vite's oxc transform), written as
 *   an ES module and run with node; `@nextscale/*` and
 *   `@tensorflow/tfjs-core` resolve to the workspace packages' built dist
 *   (plain node cannot run their TypeScript sources), so `pnpm build` comes
 *   first: turbo's test task for this package depends on every package's
 *   build, and CI builds before it tests.
 * - Shell: bash -euo pipefail, with `nextscale`, `pnpm nextscale`,
 *   `pnpm --silent nextscale` and `npx nextscale` running the built
 *   packages/cli/dist/bin.js; any other pnpm/npx/npm command fails (such a
 *   block is marked).
 * - The official file names and names are the tiny reference models
 *   (fixtures.ts): in each folder the files the block names, and a model
 *   cache (NEXTSCALE_CACHE) holding every official name. The hub URLs point
 *   at a closed local port, so a block that would download fails at once.
 *
 * The examples run on wasm (the CLI's default; `initBackend` lists that
 * start with webgpu fall through to it, VK_ICD_FILENAMES being unset for
 * them). On another NEXTSCALE_BACKEND the file is skipped, saying why: on
 * webgpu (SwiftShader in CI) and cpu their generations and Inception passes
 * take tens of minutes, and the examples are checked once per CI run, in its
 * wasm suite.
 */
import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { backendFromEnv } from "@nextscale/backends";
import { transformWithOxc } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Block, readmeBlocks } from "./blocks.js";
import { LARGE, makeFixtures, SMALL } from "./fixtures.js";

const ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const HERE = resolve(fileURLToPath(new URL("..", import.meta.url)));
const CLI = join(ROOT, "packages/cli/dist/bin.js");
const BLOCK_TIMEOUT_MS = 120_000;

const blocks = readmeBlocks(ROOT);
const code = blocks.filter((b) => b.kind);
const text = blocks.filter((b) => !b.kind);
const where = (b: Block) => `${b.file}:${b.line}`;

const backend = backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"])[0];
const runsHere = backend === "wasm";
console.log(
  runsHere
    ? "backend: wasm (the README examples' CLI commands; TypeScript examples initialise the backends they list, as written)"
    : `backend: ${backend}: README examples skipped (checked on wasm: on ${backend} their generations and Inception passes take tens of minutes)`,
);

let work = "";
let fixtures = "";
let env: NodeJS.ProcessEnv = {};
const started = performance.now();
const results: { block: Block; ms: number; ok: boolean }[] = [];

/** The packages' dist must exist (pnpm build); one older than its sources is reported. */
function checkBuilt() {
  const missing: string[] = [];
  const stale: string[] = [];
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((t, e) => Math.max(t, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  for (const pkg of readdirSync(join(ROOT, "packages"))) {
    if (!existsSync(join(ROOT, "packages", pkg, "src"))) continue; // not a built package (e.g. a model's weights and training runs)
    const dist = join(ROOT, "packages", pkg, "dist", "index.js");
    if (!existsSync(dist)) missing.push(`packages/${pkg}`);
    else if (newest(join(ROOT, "packages", pkg, "src")) > statSync(dist).mtimeMs) stale.push(`packages/${pkg}`);
  }
  if (missing.length || !existsSync(CLI)) throw new Error(`the README examples run the built packages: run \`pnpm build\` first (no dist in ${missing.join(", ") || "packages/cli"})`);
  if (stale.length) console.warn(`[readme] dist older than the sources in ${stale.join(", ")}: the examples run the last build (pnpm build)`);
}

/** bash shims for nextscale, pnpm, npx and npm: only the nextscale command runs. */
function writeShims(bin: string) {
  mkdirSync(bin);
  const refuse = (tool: string) =>
    `echo "README test: only the nextscale command runs here, not '${tool} $*'; mark a block that needs it with <!-- not-run: reason -->" >&2; exit 127`;
  const shims: Record<string, string> = {
    nextscale: `exec node ${JSON.stringify(CLI)} "$@"`,
    // pnpm 12 takes --silent but refuses -s ("unexpected argument '-s'"): so does the shim
    pnpm: `a=("$@"); while [ "\${a[0]:-}" = "--silent" ]; do a=("\${a[@]:1}"); done\nif [ "\${a[0]:-}" = nextscale ]; then exec node ${JSON.stringify(CLI)} "\${a[@]:1}"; fi\n${refuse("pnpm")}`,
    npx: `if [ "\${1:-}" = nextscale ]; then shift; exec node ${JSON.stringify(CLI)} "$@"; fi\n${refuse("npx")}`,
    npm: refuse("npm"),
  };
  for (const [name, body] of Object.entries(shims)) writeFileSync(join(bin, name), `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
}

/** A fresh folder for one block: the small fixtures copied, the large ones it names linked. */
function blockFolder(b: Block): string {
  const dir = join(work, `${b.file.replaceAll("/", "_")}-${b.line}`);
  mkdirSync(dir);
  symlinkSync(join(HERE, "node_modules"), join(dir, "node_modules"));
  symlinkSync(join(ROOT, "test-fixtures"), join(dir, "test-fixtures"));
  for (const f of SMALL) {
    const src = join(fixtures, f);
    if (statSync(src).isDirectory()) cpSync(src, join(dir, f), { recursive: true });
    else copyFileSync(src, join(dir, f));
  }
  for (const f of LARGE) if (b.code.includes(f)) symlinkSync(join(fixtures, f), join(dir, f));
  return dir;
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((done) => {
    // its own process group, so that a timeout ends the commands a shell block started too
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, BLOCK_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, output, timedOut });
    });
  });
}

async function runBlock(b: Block): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  const dir = blockFolder(b);
  if (b.kind === "sh") {
    writeFileSync(join(dir, "example.sh"), `${b.code}\n`);
    return run("bash", ["-euo", "pipefail", "example.sh"], dir);
  }
  const js = await transformWithOxc(b.code, `example.${b.kind}`, { lang: b.kind === "ts" ? "ts" : "js" });
  writeFileSync(join(dir, "example.mjs"), js.code);
  return run(process.execPath, ["example.mjs"], dir);
}

describe.skipIf(!runsHere)("README examples", () => {
  beforeAll(async () => {
    checkBuilt();
    work = mkdtempSync(join(tmpdir(), "nextscale-readme-"));
    fixtures = join(work, "fixtures");
    const cache = join(work, "cache");
    const t = performance.now();
    await makeFixtures(fixtures, cache);
    writeShims(join(work, "bin"));
    const closed = "http://127.0.0.1:9"; // discard port: nothing listens, a download fails at once
    env = { ...process.env, NEXTSCALE_CACHE: cache, XDG_CACHE_HOME: join(work, "xdg"), NEXTSCALE_HUB_URL: `${closed}/hub`, NEXTSCALE_FID_WEIGHTS_URL: `${closed}/fid`, NEXTSCALE_BACKEND: "wasm", PATH: `${join(work, "bin")}:${process.env.PATH}`, NO_COLOR: "1" };
    for (const k of ["HF_ENDPOINT", "NEXTSCALE_INCEPTION_WEIGHTS", "VK_ICD_FILENAMES", "FORCE_COLOR"]) delete env[k];
    console.log(`[readme] fixtures in ${((performance.now() - t) / 1000).toFixed(1)} s (${work})`);
  }, 120_000);

  afterAll(() => {
    const secs = (performance.now() - started) / 1000;
    const notRun = code.filter((b) => b.notRun);
    const lines = [
      `[readme] ${blocks.length} code blocks in ${new Set(blocks.map((b) => b.file)).size} READMEs: ${results.length} run (${results.filter((r) => r.ok).length} passed), ${notRun.length} not run, ${text.length} text (output samples, layouts: never run); ${secs.toFixed(1)} s in all`,
      ...results.sort((a, b) => a.block.file.localeCompare(b.block.file) || a.block.line - b.block.line).map((r) => `  ${r.ok ? "ran " : "FAIL"} ${where(r.block).padEnd(34)} ${r.block.lang.padEnd(4)} ${(r.ms / 1000).toFixed(1).padStart(5)} s`),
      ...notRun.map((b) => `  skip ${where(b).padEnd(34)} ${b.lang.padEnd(4)} ${b.notRun}`),
    ];
    console.log(lines.join("\n"));
    if (work && results.every((r) => r.ok)) rmSync(work, { recursive: true, force: true });
  });

  it("every README has its code blocks found, each run or marked with a reason", () => {
    expect(code.length).toBeGreaterThan(20);
    for (const b of code) expect(b.notRun === null || b.notRun.length > 3, where(b)).toBe(true);
  });

  for (const b of code) {
    const name = `${where(b)} (${b.lang})`;
    if (b.notRun) {
      it.skip(`${name}: not run: ${b.notRun}`, () => {});
      continue;
    }
    it(
      name,
      async () => {
        const t = performance.now();
        const r = await runBlock(b);
        const ok = r.code === 0;
        results.push({ block: b, ms: performance.now() - t, ok });
        if (!ok) {
          const why = r.timedOut ? `timed out after ${BLOCK_TIMEOUT_MS / 1000} s` : `exit status ${r.code}`;
          throw new Error(`${where(b)}: the ${b.lang} example failed (${why}):\n${b.code}\n--- its output (last 4000 characters):\n${r.output.slice(-4000)}`);
        }
      },
      BLOCK_TIMEOUT_MS + 10_000,
    );
  }
});
