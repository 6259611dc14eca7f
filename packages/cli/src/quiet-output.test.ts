/**
 * A clean run of the built CLI prints nothing but what it means to: the
 * backend line, its progress lines and its result line. No tfjs banners, no
 * Dawn/Vulkan warnings, no Node warnings: every stderr line must match one of
 * the patterns below, stdout stays empty. Runs `dist/bin.js` as a child
 * process (build the packages first: `pnpm build`), with the default backend
 * (NEXTSCALE_BACKEND removed from its environment: the first of
 * DEFAULT_BACKENDS this machine has) and, when the tests run with
 * NEXTSCALE_BACKEND set to another backend, with that one too.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listBackends } from "@nextscale/backends";
import { referenceBundles } from "@nextscale/test-utils";
import { beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_BACKENDS } from "./backend.js";

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
const bundle = referenceBundles()[0];

const SIZE = String.raw`\d+(\.\d+)? (B|kB|MB|GB)`;
const BAR = String.raw`\[[#-]{24}\]`;
const ETA = String.raw`ETA (\d+s|\?)`;
/** The only lines a clean `generate --out` run may print on stderr, by kind. */
export const ALLOWED_LINES = {
  backend: /^backend: (webgpu|native|wasm|cpu)$/,
  loading: new RegExp(String.raw`^loading (\S+) ${BAR} ${SIZE}/${SIZE} \d{1,3}% ${SIZE}/s ${ETA}$`),
  generate: new RegExp(String.raw`^generate ${BAR} \d+/\d+ \d{1,3}% \d+(\.\d+)? tok/s ${ETA}$`),
  wrote: /^wrote (\S+) \((\d+) images?\)$/,
};

function runBin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** A user's environment: the test runner's variables and the backend override left out. */
function userEnv(backend?: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NEXTSCALE_BACKEND|NODE_OPTIONS|VITEST.*|TEST|NODE_ENV)$/.test(k)));
  return backend ? { ...env, NEXTSCALE_BACKEND: backend } : env;
}

describe("a clean run of the built CLI is quiet", () => {
  const backends = [undefined, ...(process.env.NEXTSCALE_BACKEND ? [process.env.NEXTSCALE_BACKEND] : [])];
  /** The backend a run without --backend or NEXTSCALE_BACKEND must pick: the first available in DEFAULT_BACKENDS. */
  let defaultBackend = "";
  beforeAll(async () => {
    const available = new Set((await listBackends()).filter((b) => b.available).map((b) => b.name));
    defaultBackend = DEFAULT_BACKENDS.find((b) => available.has(b)) ?? "";
    console.log(`[quiet] default backend on this machine: ${defaultBackend}`);
  });

  it.each(backends.map((b) => [b ?? "default", b] as const))(
    "generate --class 1 --out: stdout empty; stderr only the backend, progress and result lines (%s)",
    async (_name, backend) => {
      const dir = mkdtempSync(join(tmpdir(), "ns-quiet-"));
      const out = join(dir, "one.png");
      const r = await runBin(["generate", "--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth"), "--class", "1", "--out", out], userEnv(backend));
      console.log(`[quiet] ${backend ?? "default"} run's stderr:\n${r.err}`);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toBe("");
      expect(readdirSync(dir)).toEqual(["one.png"]);
      const lines = r.err.split("\n");
      expect(lines.pop()).toBe(""); // ends with a newline
      const kinds = lines.map((l) => {
        const kind = (Object.keys(ALLOWED_LINES) as (keyof typeof ALLOWED_LINES)[]).find((k) => ALLOWED_LINES[k].test(l));
        expect(kind, `unexpected stderr line: ${JSON.stringify(l)}`).toBeDefined();
        return kind!;
      });
      // the backend line first (the one that ran), the result line last
      expect(kinds[0]).toBe("backend");
      expect(lines[0]).toBe(`backend: ${backend ?? defaultBackend}`);
      expect(kinds.filter((k) => k === "backend")).toHaveLength(1);
      expect(kinds.at(-1)).toBe("wrote");
      expect(kinds.filter((k) => k === "wrote")).toHaveLength(1);
      expect(lines.at(-1)).toBe(`wrote ${out} (1 image)`);
      // one bar per checkpoint, the VAR's then the VQ-VAE's, each ending at 100%; the tiny files load
      // within a second: one line each, not one per tensor
      const loading = lines.filter((l) => kinds[lines.indexOf(l)] === "loading");
      const files = loading.map((l) => ALLOWED_LINES.loading.exec(l)![1]);
      expect([...new Set(files)]).toEqual(["var.pth", "vae.pth"]);
      for (const f of ["var.pth", "vae.pth"]) {
        const mine = loading.filter((l) => l.startsWith(`loading ${f} `));
        expect(mine.length).toBeLessThanOrEqual(11);
        expect(mine.at(-1)).toMatch(/\[#{24}\] .* 100% /);
      }
      const gen = lines.filter((l) => l.startsWith("generate "));
      expect(gen.length).toBeGreaterThanOrEqual(1);
      expect(gen.length).toBeLessThanOrEqual(11);
      expect(gen.at(-1)).toMatch(/ 100% /);
      expect(kinds.indexOf("generate")).toBeGreaterThan(kinds.lastIndexOf("loading"));
      expect(lines.length).toBeLessThanOrEqual(2 + 2 * 11 + 11);
    },
    120_000,
  );
});
