/**
 * loadModels by name: `{ preset: "d16" }` and `"var-d16"`/`"vae"` from the
 * model cache (the tiny fixtures stand in for the official files), the
 * download hint for an uncached name, and `download: true` against a local
 * server (127.0.0.1) with download progress.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelNotCachedError, StateDictError } from "@nextscale/core";
import { referenceBundles, startFileServer } from "@nextscale/test-utils";
import { afterAll, describe, expect, it } from "vitest";
import { type LoadProgress, loadModels } from "./load.js";

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

describe("loadModels: the wrong files, reported before anything loads", () => {
  const vae = bundle.file("vae.pth");
  const varFile = bundle.file("var.pth");
  const fail = (sources: { vae: string; var: string }) => {
    const events: LoadProgress[] = [];
    return loadModels(sources, { onProgress: (p) => events.push(p) }).then(
      (m) => {
        m.dispose();
        throw new Error("loaded");
      },
      (e: Error) => ({ e, events }),
    );
  };

  it("swapped: one error naming both files, and nothing loaded", async () => {
    const { e, events } = await fail({ vae: varFile, var: vae });
    expect(e).toBeInstanceOf(StateDictError);
    expect(e.message).toContain(`the checkpoints are swapped: ${vae}, given as the VAR, looks like a VQ-VAE checkpoint`);
    expect(e.message).toContain(`${varFile}, given as the VQ-VAE, looks like a VAR checkpoint (it has class_emb.weight, blocks.*)`);
    expect(events).toEqual([]);
  });

  it("a VAR given as the VQ-VAE, a VQ-VAE given as the VAR: the loaders' StateDictErrors name the file", async () => {
    const a = await fail({ vae: varFile, var: varFile });
    expect(a.e).toBeInstanceOf(StateDictError);
    expect(a.e.message).toContain(`${varFile} looks like a VAR checkpoint (it has class_emb.weight, blocks.*)`);
    const b = await fail({ vae, var: vae });
    expect(b.e).toBeInstanceOf(StateDictError);
    expect(b.e.message).toContain(`${vae} looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*)`);
    expect(b.events).toEqual([]);
  });

  it("a missing VQ-VAE file is reported before the VAR loads", async () => {
    const missing = join(tmpdir(), "nextscale-no-such-vae.pth");
    const { e, events } = await fail({ vae: missing, var: varFile });
    expect(e.message).toContain("nextscale-no-such-vae.pth");
    expect(events).toEqual([]);
  });
});

describe("loadModels: onProgress", () => {
  it("per checkpoint, the VAR then the VQ-VAE: a first event at 0, then tensors and bytes up to the totals", async () => {
    const events: LoadProgress[] = [];
    const m = await loadModels({ vae: bundle.file("vae.pth"), var: bundle.file("var.pth") }, { onProgress: (p) => events.push(p) });
    m.dispose();
    for (const [model, file] of [
      ["var", bundle.file("var.pth")],
      ["vae", bundle.file("vae.pth")],
    ] as const) {
      const mine = events.filter((e) => e.model === model);
      expect(mine.every((e) => e.file === file)).toBe(true);
      expect(mine[0]).toMatchObject({ loaded: 0, bytes: 0, key: "" });
      const last = mine.at(-1)!;
      expect(last.loaded).toBe(last.total);
      expect(last.bytes).toBe(last.totalBytes);
      expect(mine.length).toBe(last.total + 1);
      for (let i = 1; i < mine.length; i++) expect(mine[i].bytes).toBeGreaterThan(mine[i - 1].bytes);
    }
    const models = events.map((e) => e.model);
    expect(models.indexOf("vae")).toBeGreaterThan(models.lastIndexOf("var"));
    const bytes = (model: string) => events.filter((e) => e.model === model)[0].totalBytes;
    console.log(`[progress] var: ${bytes("var")} bytes, vae: ${bytes("vae")} bytes`);
  });
});
