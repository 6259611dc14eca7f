/** A trained VQ-VAE exported as safetensors loads back without being told its patch_nums, weights equal. */

import { loadVqvae, VQVAE } from "@nextscale/tokenizer";
import { describe, expect, it } from "vitest";
import { vqvaeSafetensors } from "./export.js";
import { initVqvaeForTraining, tinyVqvaeConfig } from "./vqvae-trainer.js";

describe("vqvaeSafetensors", () => {
  it("writes the official keys with patch_nums in the metadata; loadVqvae reads them back as they were", async () => {
    const vae = new VQVAE(tinyVqvaeConfig({ patchNums: [1, 2, 3, 4] }));
    initVqvaeForTraining(vae, 3);
    const bytes = await vqvaeSafetensors(vae);
    const back = await loadVqvae(bytes);
    expect(back.config.patchNums).toEqual([1, 2, 3, 4]);
    expect(back.config).toEqual(vae.config);
    const a = await vae.stateDict();
    const b = await back.stateDict();
    expect([...b.keys()]).toEqual([...a.keys()]);
    let maxDiff = 0;
    for (const [k, t] of a) {
      const u = b.get(k)!;
      for (let i = 0; i < t.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Number(t.data[i]) - Number(u.data[i])));
    }
    console.log(`[export] ${a.size} tensors round-trip, max abs diff ${maxDiff}`);
    expect(maxDiff).toBe(0);
    vae.dispose();
    back.dispose();
  });
});
