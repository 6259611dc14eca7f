/**
 * The demo end to end: build it (vite, the app's own config, from the
 * workspace's sources), serve the build with a plain static server that
 * sends COOP/COEP, and drive it in headless Chromium (Debian's
 * /usr/bin/chromium through playwright-core; never a downloaded browser) on
 * the backend NEXTSCALE_BACKEND names (default wasm; webgpu runs on
 * Chromium's SwiftShader adapter).
 *
 * With the bundled model: a generation (previews of every scale, a
 * non-blank result, time per image), a class edit in a box whose change is
 * concentrated inside the mask, cancelling between scales; with the tiny
 * .pth reference models of test-fixtures/: loading by URL with the Cache
 * API and same seed, same image; and bad files that must give the page's
 * error message. The screenshots go to a temporary folder, or, for
 * the READMEs, to the folder NEXTSCALE_DEMO_SCREENSHOTS names (`pnpm
 * screenshots` in this package: docs/).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { conformanceSkips, findSkip } from "../../../tools/test-utils/src/skips.ts";
import { sourceResolve } from "../../../tools/test-utils/vitest.shared.ts";
import { type StaticServer, serveStatic } from "./static-server.ts";

// WebGPU here is SwiftShader (emulated on the CPU): on a 2-core AVX2 EPYC beside the other suites one
// generate took up to 175 s and the URL test passed 240 s (2026-12-07); wasm takes 10-25 s for each.
const SLOW_TEST_MS = 600_000;

const CHROMIUM = process.env.NEXTSCALE_CHROMIUM ?? "/usr/bin/chromium";
const APP = fileURLToPath(new URL("..", import.meta.url));
// where the screenshots go: the READMEs' folder only when asked (a test run leaves the tree as it was)
const SHOTS = process.env.NEXTSCALE_DEMO_SCREENSHOTS ? resolve(process.env.NEXTSCALE_DEMO_SCREENSHOTS) : mkdtempSync(join(tmpdir(), "nextscale-demo-shots-"));
const FIXTURES = fileURLToPath(new URL("../../../test-fixtures/", import.meta.url));
const BACKEND = (process.env.NEXTSCALE_BACKEND ?? "wasm").split(",")[0].trim();
const ARGS = [
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--enable-unsafe-swiftshader",
  "--enable-features=Vulkan",
  "--use-angle=swiftshader",
];
// the tiny models, served beside the build
const TINY = {
  "/fixtures/var-tiny/vae.pth": join(FIXTURES, "var-tiny/vae.pth"),
  "/fixtures/var-tiny/var.pth": join(FIXTURES, "var-tiny/var.pth"),
};

// opt-in: a folder holding the official vae_ch160v4096z32.pth and var_d16.pth (or files of their format:
// tools/fixtures/make_official_shaped.py writes random-weight ones), loaded by URL as a user would
const OFFICIAL = process.env.NEXTSCALE_DEMO_OFFICIAL;
const OFFICIAL_FILES: Record<string, string> = OFFICIAL
  ? { "/official/vae_ch160v4096z32.pth": join(OFFICIAL, "vae_ch160v4096z32.pth"), "/official/var_d16.pth": join(OFFICIAL, "var_d16.pth") }
  : {};

let dist = "";
let server: StaticServer;
let browser: Browser;
const timings: string[] = [];

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), "nextscale-demo-"));
  const t0 = Date.now();
  await build({ root: APP, configFile: join(APP, "vite.config.ts"), logLevel: "warn", resolve: sourceResolve, build: { outDir: dist, emptyOutDir: true } });
  timings.push(`build ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  server = await serveStatic(dist, { extra: { ...TINY, ...OFFICIAL_FILES } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dist) rmSync(dist, { recursive: true, force: true });
  if (!process.env.NEXTSCALE_DEMO_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
  console.log(`demo e2e on ${BACKEND}: ${timings.join("; ")}${process.env.NEXTSCALE_DEMO_SCREENSHOTS ? `; screenshots in ${SHOTS}` : ""}`);
});

/** A fresh page on the backend under test, with the bundled model loaded; page errors are collected. */
async function open(query = ""): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`[chromium] ${m.text()}`);
  });
  await page.goto(`${server.url}?backend=${BACKEND}${query}`);
  await modelReady(page);
  const ran = await page.getAttribute("[data-testid=backend-info]", "data-backend");
  expect(ran, (await page.textContent("#error-text").catch(() => "")) ?? "").toBe(BACKEND);
  return { page, errors };
}

/** Wait until the generate button is enabled (backend up, model loaded), or fail with the page's error. */
async function modelReady(page: Page, timeout = 120_000) {
  await page.waitForFunction(
    () => !(document.querySelector("[data-testid=generate]") as HTMLButtonElement).disabled || !document.querySelector("[data-testid=error]")!.hasAttribute("hidden"),
    undefined,
    { timeout },
  );
  const error = await page.locator("[data-testid=error]");
  if (await error.isVisible()) throw new Error(`the page shows an error: ${await error.textContent()}`);
}

async function waitStatus(page: Page, re: RegExp, timeout = 240_000) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector("[data-testid=status]")!.textContent ?? ""), re.source, { timeout });
  return (await page.textContent("[data-testid=status]")) ?? "";
}

/** The canvas' own pixels (RGBA). */
function pixels(page: Page, testid: string) {
  return page.evaluate((id) => {
    const c = document.querySelector(`[data-testid=${id}]`) as HTMLCanvasElement;
    return { width: c.width, height: c.height, data: Array.from(c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data) };
  }, testid);
}

/** Load a model pair by URL through the page's form. */
async function loadByUrl(page: Page, vae: string, v: string, timeout = 60_000) {
  await page.locator("summary").click();
  await page.fill("[data-testid=vae-url]", new URL(vae, server.url).href);
  await page.fill("[data-testid=var-url]", new URL(v, server.url).href);
  await page.click("[data-testid=load-url]");
  await page.waitForFunction((name) => document.querySelector("[data-testid=model-info]")?.getAttribute("data-name") === name, v.split("/").pop(), { timeout });
  await modelReady(page, timeout);
}

/** The reasoned skip list's entries for the backend (tools/test-utils/conformance-skips.json). */
const SKIPS = conformanceSkips(BACKEND);

describe(`demo in headless Chromium (backend: ${BACKEND})`, () => {
  beforeEach((ctx) => {
    const skip = findSkip(SKIPS, "apps/demo/test/demo.test.ts", `${ctx.task.suite?.name ?? ""} > ${ctx.task.name}`);
    if (skip) ctx.skip(`skipped on ${BACKEND}: ${skip.reason}`);
  });
  it("generates with the bundled model: a preview for every scale, then a non-blank image", async () => {
    console.log(`backend: ${BACKEND} (demo page in Chromium)`);
    const { page, errors } = await open();
    try {
      console.log(`page: ${await page.textContent("[data-testid=backend-info]")}; ${await page.textContent("[data-testid=isolation]")}`);
      console.log(`backends: ${await page.textContent("[data-testid=backends]")}`);
      const info = (await page.textContent("[data-testid=model-info]")) ?? "";
      expect(info).toMatch(/fashion-mnist.*28×28.*7 scales/);
      expect(await page.locator("[data-testid=class-select] option").allTextContents()).toContain("7: sneaker");
      await page.selectOption("[data-testid=class-select]", "7");
      const n = 4;
      await page.fill("[data-testid=count]", String(n));
      await page.fill("[data-testid=seed]", "3");
      const t0 = Date.now();
      await page.click("[data-testid=generate]");
      // mid-generation: after the third scale's preview, if the run is still going
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=preview]").length >= 3, undefined, { timeout: 240_000, polling: "raf" });
      const mid = !/done/.test((await page.textContent("[data-testid=status]")) ?? "");
      if (mid) await page.screenshot({ path: join(SHOTS, `generating-${BACKEND}.png`) });
      const status = await waitStatus(page, /done|failed/);
      const ms = Date.now() - t0;
      expect(status).toMatch(/^done/);
      const perImage = Number(await page.getAttribute("[data-testid=status]", "data-ms")) / n;
      timings.push(`bundled model: ${n} images in ${(ms / 1000).toFixed(2)} s from the click, ${(perImage / 1000).toFixed(2)} s per image in the worker`);
      console.log(`bundled model on ${BACKEND}: ${status} (${ms} ms from the click${mid ? "" : "; too fast for a mid-generation screenshot"})`);
      const scales = await page.locator("[data-testid=preview]").evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.scale)));
      expect(scales).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const out = await pixels(page, "output");
      expect([out.width, out.height]).toEqual([28 * n, 28]);
      const grey = out.data.filter((_, i) => i % 4 === 0);
      const mean = grey.reduce((a, b) => a + b, 0) / grey.length;
      const sd = Math.sqrt(grey.reduce((a, b) => a + (b - mean) ** 2, 0) / grey.length);
      console.log(`output: mean ${mean.toFixed(1)}, sd ${sd.toFixed(1)} (of 255)`);
      expect(sd).toBeGreaterThan(20); // clothes on a dark ground, not a flat image
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 300_000);

  it("loads a model pair by URL (.pth), same seed gives the same image, and a reload reads the Cache API", async () => {
    const { page, errors } = await open();
    try {
      await loadByUrl(page, "/fixtures/var-tiny/vae.pth", "/fixtures/var-tiny/var.pth");
      expect(await page.textContent("[data-testid=model-info]")).toMatch(/64×64 px, 10 classes, 4 scales/);
      await page.fill("[data-testid=count]", "1");
      await page.fill("[data-testid=seed]", "1");
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      const first = await pixels(page, "output");
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      expect((await pixels(page, "output")).data).toEqual(first.data);
      await page.fill("[data-testid=seed]", "2");
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      expect((await pixels(page, "output")).data).not.toEqual(first.data);

      const downloads = () => server.requests.filter((p) => p.startsWith("/fixtures/var-tiny/")).length;
      expect(downloads()).toBe(2);
      await page.reload();
      await modelReady(page);
      await loadByUrl(page, "/fixtures/var-tiny/vae.pth", "/fixtures/var-tiny/var.pth");
      expect(downloads()).toBe(2);
      await page.click("[data-testid=clear-cache]");
      await page.waitForFunction(() => /cleared \(\d+ files?\)/.test(document.querySelector("#cache-text")?.textContent ?? ""), undefined, { timeout: 10_000 });
      expect(await page.textContent("#cache-text")).toMatch(/cleared \([2-9] files\)/); // the bundled model's two and the tiny pair
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, SLOW_TEST_MS);

  it("changes the class inside a box drawn on a generated image: the change is concentrated inside the mask", async () => {
    const { page, errors } = await open();
    try {
      await page.selectOption("[data-testid=class-select]", "7");
      await page.fill("[data-testid=count]", "1");
      await page.fill("[data-testid=seed]", "1");
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      await page.click("[data-testid=take]");
      const src = await pixels(page, "edit-source");
      expect(src.data).toEqual((await pixels(page, "output")).data);
      // a box over the centre, pixels 8…20 of 28 (tokens 2…4 of the 7×7 grid), dragged on the mask
      const S = 28;
      const [a, b] = [8, 20];
      await page.locator("[data-testid=mask]").scrollIntoViewIfNeeded();
      const box = (await page.locator("[data-testid=mask]").boundingBox())!;
      const at = (px: number, side: number, origin: number) => origin + ((px + 0.01) / S) * side;
      await page.mouse.move(at(a, box.width, box.x), at(a, box.height, box.y));
      await page.mouse.down();
      await page.mouse.move(at(14, box.width, box.x), at(14, box.height, box.y), { steps: 3 });
      await page.mouse.move(at(b - 0.02, box.width, box.x), at(b - 0.02, box.height, box.y), { steps: 3 });
      await page.mouse.up();
      await page.selectOption("[data-testid=edit-mode]", "class");
      await page.selectOption("[data-testid=class-select]", "8"); // bag
      expect(await page.locator("[data-testid=mask]").evaluate((c) => (c as HTMLCanvasElement).dataset.marked)).toBe(String((b - a) ** 2));
      await page.click("[data-testid=edit]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      await page.locator("#results").scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SHOTS, `edit-${BACKEND}.png`), fullPage: true });
      const out = await pixels(page, "output");
      let inside = 0;
      let outside = 0;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          const i = (y * S + x) * 4;
          const d = (Math.abs(out.data[i] - src.data[i]) + Math.abs(out.data[i + 1] - src.data[i + 1]) + Math.abs(out.data[i + 2] - src.data[i + 2])) / 3;
          if (y >= a && y < b && x >= a && x < b) inside += d;
          else outside += d;
        }
      }
      inside /= (b - a) ** 2;
      outside /= S * S - (b - a) ** 2;
      console.log(`class edit on ${BACKEND}: mean change ${inside.toFixed(1)} inside the mask, ${outside.toFixed(1)} outside (of 255)`);
      expect(inside).toBeGreaterThan(10);
      expect(inside).toBeGreaterThan(3 * outside);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, SLOW_TEST_MS);

  it("cancel stops between scales (bundled model, 7 scales)", async () => {
    const { page, errors } = await open();
    try {
      // enough images that the run outlasts the cancel's round trip (wasm does 64 in a few seconds)
      await page.fill("[data-testid=count]", BACKEND === "webgpu" ? "2" : "64");
      await page.click("[data-testid=generate]");
      await page.waitForSelector("[data-testid=preview]", { timeout: 120_000 });
      await page.click("[data-testid=cancel]");
      const status = await waitStatus(page, /cancelled|done|failed/, 120_000);
      const previews = await page.locator("[data-testid=preview]").count();
      console.log(`cancel on ${BACKEND}: "${status}", ${previews} of 7 previews`);
      expect(status).toMatch(/^cancelled after \d+ scale/);
      expect(previews).toBeLessThan(7);
      expect((await pixels(page, "output")).width).toBe(1); // no result drawn
      expect(await page.isEnabled("[data-testid=generate]")).toBe(true);
      // the page generates again after a cancel
      await page.fill("[data-testid=count]", "1");
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/)).toMatch(/^done/);
      expect((await pixels(page, "output")).width).toBe(28);
      await page.evaluate(() => caches.delete("nextscale-models-v1"));
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, SLOW_TEST_MS);

  it.runIf(OFFICIAL)("loads the official-size pair by URL (vae_ch160v4096z32.pth + var_d16.pth) and generates a 256×256 image", async () => {
    const { page, errors } = await open();
    try {
      const t0 = Date.now();
      await loadByUrl(page, "/official/vae_ch160v4096z32.pth", "/official/var_d16.pth", 600_000);
      const loadS = (Date.now() - t0) / 1000;
      const info = (await page.textContent("[data-testid=model-info]")) ?? "";
      console.log(`official-size pair on ${BACKEND}: loaded in ${loadS.toFixed(1)} s: ${info}`);
      expect(info).toMatch(/256×256 px, 1000 classes, 10 scales/);
      expect(await page.locator("[data-testid=class-select] option").allTextContents()).toContain("207: golden retriever");
      await page.selectOption("[data-testid=class-select]", "207");
      await page.fill("[data-testid=count]", "1");
      const t1 = Date.now();
      await page.click("[data-testid=generate]");
      expect(await waitStatus(page, /done|failed/, 900_000)).toMatch(/^done/);
      timings.push(`official-size d16: loaded in ${loadS.toFixed(1)} s, 1 image in ${((Date.now() - t1) / 1000).toFixed(1)} s from the click`);
      const out = await pixels(page, "output");
      expect([out.width, out.height]).toEqual([256, 256]);
      expect(await page.locator("[data-testid=preview]").count()).toBe(10);
      expect(errors).toEqual([]);
    } finally {
      await page.evaluate(() => caches.delete("nextscale-models-v1")).catch(() => {});
      await page.close();
    }
  }, 1_800_000);

  it("bad files give the page's error message", async () => {
    const { page, errors } = await open();
    try {
      // a checkpoint that is not one
      await page.locator("summary").click();
      await page.setInputFiles("[data-testid=vae-file]", { name: "notes.pth", mimeType: "application/octet-stream", buffer: Buffer.from("this is not a checkpoint\n") });
      await page.setInputFiles("[data-testid=var-file]", TINY["/fixtures/var-tiny/var.pth"]);
      await page.click("[data-testid=load-files]");
      const err = page.locator("[data-testid=error]");
      await err.waitFor({ state: "visible", timeout: 60_000 });
      const text = (await err.textContent()) ?? "";
      console.log(`bad checkpoint: ${text}`);
      expect(await err.getAttribute("data-kind")).toBe("unsupported-file");
      expect(text).toMatch(/notes\.pth/);

      // back to the bundled model; then an image the browser cannot decode, and one of the wrong size
      await page.click("[data-testid=load-bundled]");
      await page.waitForFunction(() => document.querySelector("[data-testid=model-info]")?.getAttribute("data-name")?.startsWith("fashion-mnist"), undefined, { timeout: 60_000 });
      await modelReady(page);
      await page.setInputFiles("[data-testid=image-file]", { name: "photo.png", mimeType: "image/png", buffer: Buffer.from("not a png") });
      await err.waitFor({ state: "visible", timeout: 10_000 });
      expect(await err.getAttribute("data-kind")).toBe("unsupported-file");
      expect(await err.textContent()).toMatch(/photo\.png is not an image/);
      const png = await page.evaluate(async () => {
        const c = new OffscreenCanvas(40, 30);
        c.getContext("2d")!.fillRect(0, 0, 20, 30);
        return Array.from(new Uint8Array(await (await c.convertToBlob({ type: "image/png" })).arrayBuffer()));
      });
      await page.setInputFiles("[data-testid=image-file]", { name: "wide.png", mimeType: "image/png", buffer: Buffer.from(png) });
      await page.waitForFunction(() => document.querySelector("[data-testid=error]")?.getAttribute("data-kind") === "image-size", undefined, { timeout: 10_000 });
      expect(await err.textContent()).toMatch(/wide\.png is 40×30; this model works on 28×28/);
      await page.click("[data-testid=fit-crop]");
      expect(await err.isVisible()).toBe(false);
      expect(await page.isEnabled("[data-testid=edit]")).toBe(true);
      expect((await pixels(page, "edit-source")).width).toBe(28);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 180_000);
});
