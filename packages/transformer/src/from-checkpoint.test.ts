/**
 * VarTransformer.fromCheckpoint as a first run meets it: a VQ-VAE's (or any
 * other) checkpoint passed as the VAR is a StateDictError that names the file
 * ("… looks like a VQ-VAE checkpoint …"), and loading reports honest
 * progress (tensors and bytes, from the file's own sizes).
 */
import { DTYPE_SIZE, numel, openCheckpoint, StateDictError } from "@nextscale/core";
import { referenceBundles } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { VarTransformer } from "./var-transformer.js";

const bundle = referenceBundles()[0];

describe("VarTransformer.fromCheckpoint: the wrong file", () => {
  it("a VQ-VAE checkpoint is a StateDictError naming the file: it looks like a VQ-VAE checkpoint", async () => {
    const file = bundle.file("vae.pth");
    const store = await openCheckpoint(file);
    try {
      const e = await VarTransformer.fromCheckpoint(store).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StateDictError);
      expect((e as Error).message).toContain(`${file} looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*), not a VAR`);
      expect((e as Error).message).toMatch(/loadVqvae/);
      expect((e as StateDictError).problems.missing).toContain("class_emb.weight");
    } finally {
      await store.close();
    }
  });

  it("a file of neither model: a StateDictError naming the file and the keys it lacks", async () => {
    const file = bundle.file("io.safetensors");
    const store = await openCheckpoint(file);
    try {
      const e = await VarTransformer.fromCheckpoint(store).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(StateDictError);
      expect((e as Error).message).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not a VAR checkpoint: it lacks word_embed\\.weight`));
    } finally {
      await store.close();
    }
  });
});

describe("VarTransformer.fromCheckpoint: onProgress", () => {
  it("one event before the first tensor, then one per tensor, with the file and real byte counts", async () => {
    const file = bundle.file("var.pth");
    const store = await openCheckpoint(file);
    const events: { file: string; key: string; loaded: number; total: number; bytes: number; totalBytes: number }[] = [];
    const m = await VarTransformer.fromCheckpoint(store, { onProgress: (p) => events.push({ ...p }) });
    try {
      const keys = m
        .namedParameters()
        .map(([k]) => k)
        .filter((k) => store.has(k));
      const size = (k: string) => numel(store.info(k).shape) * DTYPE_SIZE[store.info(k).dtype];
      const totalBytes = keys.reduce((s, k) => s + size(k), 0);
      expect(events[0]).toEqual({ file, key: "", loaded: 0, total: keys.length, bytes: 0, totalBytes });
      expect(events).toHaveLength(keys.length + 1);
      let bytes = 0;
      for (const [i, e] of events.slice(1).entries()) {
        bytes += size(e.key);
        expect([e.file, e.loaded, e.total, e.bytes, e.totalBytes]).toEqual([file, i + 1, keys.length, bytes, totalBytes]);
      }
      expect(events.at(-1)!.bytes).toBe(totalBytes);
      console.log(`[progress] ${events.length} events, ${totalBytes} bytes over ${keys.length} tensors`);
    } finally {
      m.dispose();
      await store.close();
    }
  });
});
