/**
 * loadModels by name: `{ preset: "d16" }` and `"var-d16"`/`"vae"` from the
 * model cache (the tiny fixtures stand in for the official files), the
 * download hint for an uncached name, and `download: true` against a local
 * server (127.0.0.1) with download progress.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelNotCachedError } from "@nextscale/core";
import { referenceBundles, startFileServer } from "@nextscale/test-utils";
import { afterAll, describe, expect, it } from "vitest";
import { loadModels } from "./load.js";

const bundle = referenceBundles().find((b) => b.name === "var-tiny") ?? referenceBundles()[0];

describe("loadModels by name", () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "nextscale-cache-"));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
  copyFileSync(bundle.file("var.pth"), join(cacheDir, "var_d16.pth"));
  copyFileSync(bundle.file("vae.pth"), join(cacheDir, "vae_ch160v4096z32.pth"));

  it("{ preset: 'd16' } and the names var-d16 / vae load the cached files", async () => {
    const a = await loadModels({ preset: "d16" }, { cacheDir });
    const b = await loadModels({ vae: "vae", var: "var-d16" }, { cacheDir, pack: false });
    try {
      expect(a.var.config.depth).toBe(bundle.meta.var.depth);
      expect(b.var.config).toEqual(a.var.config);
      expect(a.vae.imageSize()).toBe(bundle.meta.config.reso);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it("a preset whose file is not cached names the download command; nothing downloads unless asked", async () => {
    const e = await loadModels({ preset: "d20" }, { cacheDir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelNotCachedError);
    expect((e as Error).message).toContain("`nextscale download var-d20`");
  });

  it("download: true fetches what is missing, with progress per model", async () => {
    const server = await startFileServer({
      "/hub/var_d16.pth": { body: new Uint8Array(readFileSync(bundle.file("var.pth"))) },
      "/hub/vae_ch160v4096z32.pth": { body: new Uint8Array(readFileSync(bundle.file("vae.pth"))) },
    });
    const empty = mkdtempSync(join(tmpdir(), "nextscale-cache-"));
    try {
      const seen = new Set<string>();
      const m = await loadModels(
        { preset: "d16" },
        { cacheDir: empty, hubUrl: `${server.url}/hub`, download: true, onDownloadProgress: (p) => seen.add(`${p.model}:${p.file}`) },
      );
      m.dispose();
      expect([...seen].sort()).toEqual(["vae:vae_ch160v4096z32.pth", "var:var_d16.pth"]);
    } finally {
      await server.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
