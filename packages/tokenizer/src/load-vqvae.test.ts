/**
 * loadVqvae as a first run meets it: a VAR's checkpoint passed as the VQ-VAE
 * is named and recognised ("… looks like a VAR checkpoint …"), and loading
 * reports honest progress (tensors and bytes, from the file's own sizes).
 */
import { DTYPE_SIZE, numel, openCheckpoint, StateDictError } from "@nextscale/core";
import { referenceBundles } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { VqvaeInputError } from "./errors.js";
import { loadVqvae } from "./vqvae.js";

const bundle = referenceBundles()[0];
const patchNums: number[] = bundle.meta.var.patch_nums;

describe("loadVqvae: the wrong file", () => {
  it("a VAR checkpoint (.pth and .safetensors) is a StateDictError naming the file: it looks like a VAR checkpoint", async () => {
    for (const f of ["var.pth", "var.safetensors"].filter((x) => bundle.has(x))) {
      const file = bundle.file(f);
      const e = await loadVqvae(file, { patchNums }).catch((x: unknown) => x);
      expect(e, f).toBeInstanceOf(StateDictError);
      const msg = (e as Error).message;
      expect(msg).toContain(`${file} looks like a VAR checkpoint (it has class_emb.weight, blocks.*), not a VQ-VAE`);
      expect(msg).toMatch(/VarTransformer\.fromCheckpoint/);
      expect((e as StateDictError).problems.missing).toEqual(["quantize.embedding.weight", "encoder.conv_in.weight"]);
    }
  });

  it("also with an explicit config (checked before the keys are compared)", async () => {
    const good = await loadVqvae(bundle.file("vae.pth"), { patchNums });
    try {
      const e = await loadVqvae(bundle.file("var.pth"), { config: good.config }).catch((x: unknown) => x);
      expect((e as Error).message).toMatch(/var\.pth looks like a VAR checkpoint/);
    } finally {
      good.dispose();
    }
  });

  it("a file of neither model stays a VqvaeInputError that names the keys a VQ-VAE has", async () => {
    const e = await loadVqvae(bundle.file("io.safetensors"), { patchNums }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VqvaeInputError);
    expect((e as Error).message).toMatch(/not a VQ-VAE checkpoint: a VQ-VAE state dict has "encoder\.conv_in\.weight"/);
  });
});

describe("loadVqvae: onProgress", () => {
  it("one event before the first tensor, then one per tensor, with the file and real byte counts", async () => {
    const file = bundle.file("vae.pth");
    const events: { file: string; key: string; loaded: number; total: number; bytes: number; totalBytes: number }[] = [];
    const vae = await loadVqvae(file, { patchNums, onProgress: (p) => events.push({ ...p }) });
    const store = await openCheckpoint(file);
    try {
      const loadedKeys = vae
        .namedParameters()
        .map(([k]) => k)
        .filter((k) => store.has(k));
      const size = (k: string) => numel(store.info(k).shape) * DTYPE_SIZE[store.info(k).dtype];
      const totalBytes = loadedKeys.reduce((s, k) => s + size(k), 0);
      expect(events[0]).toEqual({ file, key: "", loaded: 0, total: loadedKeys.length, bytes: 0, totalBytes });
      expect(events).toHaveLength(loadedKeys.length + 1);
      expect(events.every((e) => e.file === file && e.total === loadedKeys.length && e.totalBytes === totalBytes)).toBe(true);
      let bytes = 0;
      for (const [i, e] of events.slice(1).entries()) {
        bytes += size(e.key);
        expect(e.loaded).toBe(i + 1);
        expect(e.bytes).toBe(bytes);
      }
      expect(events.at(-1)!.bytes).toBe(totalBytes);
      expect(totalBytes).toBeGreaterThan(1e6); // the tiny VQ-VAE's 17 MB file holds mostly float32 weights
      console.log(`[progress] ${events.length} events, ${totalBytes} bytes over ${loadedKeys.length} tensors`);
    } finally {
      vae.dispose();
      await store.close();
    }
  });
});
