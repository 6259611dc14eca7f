import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { inferVqvaeConfig, PATCH_NUMS, VQVAE_PRESETS, vqvaeConfig } from "./config.js";
import { VqvaeInputError } from "./errors.js";
import { linspace, phiIndexPerScale, phiTicks } from "./phi.js";
import { VQVAE } from "./vqvae.js";

const arch = JSON.parse(readFileSync(join(FIXTURES, "official-arch.json"), "utf8"));
const official: { keys: Record<string, number[]>; params: number } = arch.vae_ch160v4096z32;

describe("VQ-VAE configuration", () => {
  it("the vqvae_ch160v4096z32 preset has exactly the official keys, shapes, order and parameter count", () => {
    const vae = new VQVAE(VQVAE_PRESETS.vqvae_ch160v4096z32);
    expect(Object.entries(vae.stateDictShapes())).toEqual(Object.entries(official.keys));
    expect(vae.numParameters()).toBe(official.params);
    console.log(`[info] vqvae_ch160v4096z32: ${Object.keys(official.keys).length} keys, ${vae.numParameters()} parameters`);
  });

  it("the 512 px preset is the same model with the 512 px token maps", () => {
    const vae = new VQVAE(VQVAE_PRESETS.vqvae_ch160v4096z32_512);
    expect(vae.stateDictShapes()).toEqual(official.keys);
    expect(vae.config.patchNums).toEqual([1, 2, 3, 4, 6, 9, 13, 18, 24, 32]);
    expect(vae.imageSize()).toBe(512);
    expect(new VQVAE(VQVAE_PRESETS.vqvae_ch160v4096z32).imageSize()).toBe(256);
  });

  it("infers the preset from the official checkpoint's shapes", () => {
    expect(inferVqvaeConfig(official.keys)).toEqual(VQVAE_PRESETS.vqvae_ch160v4096z32);
    expect(inferVqvaeConfig(official.keys, { patchNums: PATCH_NUMS[512] })).toEqual(VQVAE_PRESETS.vqvae_ch160v4096z32_512);
  });

  it("infers the other φ sharing modes and no-φ from the keys a model of that kind has", () => {
    for (const overrides of [
      { shareQuantResi: 0 },
      { shareQuantResi: 1 },
      { shareQuantResi: 0, defaultQresiCounts: 3 },
      { shareQuantResi: 6 },
      { quantResi: 0 },
      { usingSa: false, usingMidSa: false, numResBlocks: 1, chMult: [1, 2, 2], ch: 64 },
    ]) {
      const c = vqvaeConfig(overrides);
      const shapes = new VQVAE(c).stateDictShapes();
      const inferred = inferVqvaeConfig(shapes);
      expect({ ...inferred, defaultQresiCounts: 0 }).toEqual({ ...c, defaultQresiCounts: 0 });
      expect(new VQVAE(inferred).stateDictShapes()).toEqual(shapes);
    }
  });

  it("needs patch_nums for a checkpoint with other than 10 scales, and rejects other models", () => {
    const shapes = new VQVAE(vqvaeConfig({ patchNums: [1, 2, 4] })).stateDictShapes();
    expect(() => inferVqvaeConfig(shapes)).toThrow(/trained with 3 scales; pass patchNums/);
    expect(inferVqvaeConfig(shapes, { patchNums: [1, 2, 4] }).patchNums).toEqual([1, 2, 4]);
    const varShapes = JSON.parse(readFileSync(join(FIXTURES, "official-arch.json"), "utf8")).var_d16.keys;
    expect(() => inferVqvaeConfig(varShapes)).toThrow(VqvaeInputError);
    expect(() => inferVqvaeConfig(varShapes)).toThrow(/a VAR transformer checkpoint/);
  });

  it("rejects invalid configurations clearly", () => {
    expect(() => vqvaeConfig({ patchNums: [16] })).toThrow(/at least two scales/);
    expect(() => vqvaeConfig({ patchNums: [1, 2.5, 4] })).toThrow(/positive integers/);
    expect(() => vqvaeConfig({ ch: 40 })).toThrow(/divisible by GroupNorm's 32 groups/);
    expect(() => vqvaeConfig({ vocabSize: 0 })).toThrow(/vocabSize must be a positive integer/);
    expect(Object.isFrozen(VQVAE_PRESETS.vqvae_ch160v4096z32)).toBe(true);
    expect(Object.isFrozen(VQVAE_PRESETS.vqvae_ch160v4096z32.patchNums)).toBe(true);
  });
});

describe("φ selection", () => {
  it("reproduces numpy.linspace bit for bit on the official ticks", () => {
    // numpy: np.linspace(1/3/4, 1-1/3/4, 4).tolist()
    expect(phiTicks(4)).toEqual([0.08333333333333333, 0.36111111111111105, 0.6388888888888888, 0.9166666666666666]);
    expect(linspace(0, 1, 1)).toEqual([0]);
  });

  it("picks the φ of var-reference.md for K = 10, 4 and 5 scales (partially shared, n = 4)", () => {
    const c = VQVAE_PRESETS.vqvae_ch160v4096z32;
    expect(phiIndexPerScale(c, 10)).toEqual([0, 0, 1, 1, 1, 2, 2, 3, 3, 3]);
    expect(phiIndexPerScale(c, 4)).toEqual([0, 1, 2, 3]);
    expect(phiIndexPerScale(c, 5)).toEqual([0, 1, 2, 2, 3]);
    // an exact tie at 1/2 between ticks 1 and 2, decided by float rounding as in numpy (var-tiny-saln checks it numerically)
    expect(phiIndexPerScale(c, 3)).toEqual([0, 2, 3]);
    expect(phiIndexPerScale(vqvaeConfig({ shareQuantResi: 1 }), 10)).toEqual(Array(10).fill(0));
    expect(phiIndexPerScale(vqvaeConfig({ shareQuantResi: 0 }), 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
