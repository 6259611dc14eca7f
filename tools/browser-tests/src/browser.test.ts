/**
 * The backends in a real browser: bundle page/main.ts (which imports
 * @nextscale/backends and @nextscale/core) with vite, serve it cross-origin
 * isolated (so tfjs may pick its threaded wasm build), open it in headless
 * Chromium, initialise the backend named by NEXTSCALE_BACKEND there, and
 * check a Linear and a Conv2d (unpacked, and packed for inference) against
 * the same layers computed here in float64. WebGPU runs on Chromium's
 * SwiftShader adapter. Needs Debian's chromium (`.ci/run` installs it) and
 * never downloads a browser; without it the test is skipped, saying why.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { backendFromEnv } from "@nextscale/backends";
import { chromium } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CHROMIUM = process.env.NEXTSCALE_CHROMIUM ?? "/usr/bin/chromium";
const PAGE = fileURLToPath(new URL("../page", import.meta.url));
const pref = backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]);
const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * 0.5);

/** What page/main.ts computes, in float64: Linear(6, 4) on (2, 6), Conv2d(2, 3, 3, pad 1) on NHWC (1, 4, 4, 2). */
function expected() {
  const [W, b, K, kb] = [fill(24, 0), fill(4, 1), fill(54, 2), fill(3, 3)];
  const x = fill(12, 7);
  const linear: number[] = [];
  for (let r = 0; r < 2; r++) for (let o = 0; o < 4; o++) linear.push(b[o] + [0, 1, 2, 3, 4, 5].reduce((s, i) => s + x[r * 6 + i] * W[o * 6 + i], 0));
  const img = fill(32, 8);
  const conv: number[] = [];
  for (let y = 0; y < 4; y++)
    for (let xx = 0; xx < 4; xx++)
      for (let o = 0; o < 3; o++) {
        let s = kb[o];
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++) {
            const [iy, ix] = [y + ky - 1, xx + kx - 1];
            if (iy < 0 || iy > 3 || ix < 0 || ix > 3) continue;
            for (let c = 0; c < 2; c++) s += img[(iy * 4 + ix) * 2 + c] * K[((o * 2 + c) * 3 + ky) * 3 + kx];
          }
        conv.push(s);
      }
  return { linear, conv };
}

const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

describe("browser (headless Chromium)", () => {
  const have = existsSync(CHROMIUM);
  let dir = "";
  let server: Server | undefined;
  let url = "";

  beforeAll(async () => {
    if (!have) return;
    dir = mkdtempSync(join(tmpdir(), "nextscale-browser-"));
    // minify: false: tfjs-backend-wasm's threaded build hands its pthread workers code that refers to the
    // main script's names, so a bundler that renames identifiers breaks it ("e is not defined" in the
    // workers, and initialisation never finishes; tfjs issues #4107, #4539)
    await build({ root: PAGE, base: "./", logLevel: "warn", build: { outDir: dir, emptyOutDir: true, target: "es2022", minify: false } });
    const wasmDist = join(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
    for (const f of readdirSync(wasmDist).filter((f) => f.endsWith(".wasm"))) copyFileSync(join(wasmDist, f), join(dir, f));
    server = createServer((req, res) => {
      const path = join(dir, decodeURIComponent((req.url ?? "/").split("?")[0]).replace(/^\/$/, "/index.html"));
      if (!path.startsWith(dir) || !existsSync(path)) {
        res.writeHead(404).end();
        return;
      }
      // cross-origin isolated, as a page must be for SharedArrayBuffer (tfjs' threaded wasm build)
      res.writeHead(200, {
        "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
      });
      res.end(readFileSync(path));
    });
    await new Promise<void>((ok) => server!.listen(0, "127.0.0.1", ok));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/`;
  });
  afterAll(async () => {
    await new Promise((ok) => (server ? server.close(ok) : ok(null)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("initialises the backend there and computes Linear and Conv2d, unpacked and packed", async (ctx) => {
    if (!have) ctx.skip(`no Chromium at ${CHROMIUM} (Debian: apt-get install chromium; or set NEXTSCALE_CHROMIUM)`);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader"],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("console", (m) => console.log(`[chromium] ${m.text()}`));
      await page.goto(url);
      await page.waitForFunction(() => typeof (globalThis as unknown as { smoke?: unknown }).smoke === "function", undefined, { timeout: 60_000 });
      const r = await page.evaluate(
        ([p, base]) => (globalThis as unknown as { smoke: (p: unknown, w: string) => Promise<unknown> }).smoke(p, base),
        [pref, url] as const,
      );
      const res = r as {
        backend: string;
        info: { device: string; threads?: number; weightPacking: boolean; fusedKernels: string[] };
        crossOriginIsolated: boolean;
        hardwareConcurrency: number;
        plain: { linear: number[]; conv: number[] };
        packed: { linear: number[]; conv: number[] };
        packedWeights: number;
        models: { d16: string; vaeCached: string | null };
      };
      console.log(`backend: ${res.backend} (in Chromium: ${res.info.device}; cross-origin isolated ${res.crossOriginIsolated}; weight packing ${res.info.weightPacking})`);
      expect(errors).toEqual([]);
      const want = expected();
      const tol = res.backend === "webgpu" ? 1e-4 : 1e-5;
      for (const [how, got] of [
        ["plain", res.plain],
        ["packed", res.packed],
      ] as const) {
        const err = Math.max(...got.linear.map((v, i) => Math.abs(v - want.linear[i])), ...got.conv.map((v, i) => Math.abs(v - want.conv[i])));
        console.log(`${how}: max abs error against float64 ${err.toExponential(2)}`);
        expect(got.linear).toHaveLength(8);
        expect(got.conv).toHaveLength(48);
        expect(err).toBeLessThan(tol);
      }
      expect(res.packedWeights).toBe(res.info.weightPacking ? 2 : 0);
      if (res.backend === "wasm") expect(res.info.weightPacking).toBe(true);
      // an isolated page gets one wasm thread per logical CPU (at most 8) by default, and the page
      // reads its real core count afterwards (the loader reports 2 × threads to tfjs while it initialises)
      if (res.backend === "wasm" && res.crossOriginIsolated) {
        console.log(`wasm threads: ${res.info.threads} (logical CPUs ${res.hardwareConcurrency})`);
        expect(res.info.threads).toBe(Math.min(8, res.hardwareConcurrency));
      }
      expect(res.models).toEqual({ d16: "https://huggingface.co/FoundationVision/var/resolve/main/var_d16.pth", vaeCached: null });
    } finally {
      await browser.close();
    }
  });
});
