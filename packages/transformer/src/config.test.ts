import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { inferVarConfig, patchNumsFromLevels, VAR_PRESETS, type VarPresetName, varConfig } from "./config.js";
import { VarTransformer } from "./var-transformer.js";

interface ArchEntry {
  patch_nums: number[];
  shared_aln: boolean;
  depth: number;
  embed_dim: number;
  num_heads: number;
  params: number;
  keys: Record<string, number[]>;
}
const arch: Record<string, ArchEntry> = JSON.parse(readFileSync(join(FIXTURES, "official-arch.json"), "utf8"));
const presets = Object.keys(VAR_PRESETS) as VarPresetName[];

describe("presets match the official state dicts (official-arch.json)", () => {
  it("covers every VAR entry of official-arch.json", () => {
    expect(presets.map((p) => `var_${p}`).sort()).toEqual(Object.keys(arch).filter((k) => k.startsWith("var_")).sort());
  });

  for (const name of presets) {
    it(`${name}: keys, shapes and parameter count, without allocating weights`, () => {
      const want = arch[`var_${name}`];
      const before = tf.memory().numTensors;
      const model = new VarTransformer(VAR_PRESETS[name]);
      const shapes = model.stateDictShapes();
      expect(Object.keys(shapes)).toEqual(Object.keys(want.keys)); // same keys in the official order
      expect(shapes).toEqual(want.keys);
      expect(model.numParameters()).toBe(want.params);
      expect(tf.memory().numTensors).toBe(before);
      const c = VAR_PRESETS[name];
      expect([c.depth, c.embedDim, c.numHeads, c.sharedAln, [...c.patchNums]]).toEqual([
        want.depth,
        want.embed_dim,
        want.num_heads,
        want.shared_aln,
        want.patch_nums,
      ]);
      console.log(`[arch] ${name}: ${Object.keys(shapes).length} keys, ${model.numParameters().toLocaleString("en")} parameters`);
    });

    it(`${name}: inferVarConfig from the checkpoint's key shapes gives the preset`, () => {
      expect(inferVarConfig(arch[`var_${name}`].keys)).toEqual(VAR_PRESETS[name]);
    });
  }

  it("presets are frozen", () => {
    expect(Object.isFrozen(VAR_PRESETS.d16)).toBe(true);
    expect(Object.isFrozen(VAR_PRESETS.d16.patchNums)).toBe(true);
    expect(Object.isFrozen(VAR_PRESETS)).toBe(true);
  });
});

describe("config errors", () => {
  it("rejects inconsistent configurations", () => {
    expect(() => varConfig({ depth: 2, embedDim: 100, numHeads: 3 })).toThrow(/not divisible/);
    expect(() => varConfig({ depth: 0 })).toThrow(/depth must be a positive integer/);
    expect(() => varConfig({ depth: 2, patchNums: [] })).toThrow(/patchNums/);
  });

  it("inferVarConfig: not a VAR state dict, unknown pyramid, explicit patch_nums", () => {
    expect(() => inferVarConfig({ "encoder.conv_in.weight": [160, 3, 3, 3] })).toThrow(/not a VAR state dict: missing word_embed.weight/);
    const keys = { ...arch.var_d16.keys, pos_1LC: [1, 30, 1024], "lvl_embed.weight": [4, 1024] };
    expect(() => inferVarConfig(keys)).toThrow(/cannot infer patch_nums from L=30 over 4 scales/);
    expect(inferVarConfig(keys, { patchNums: [1, 2, 3, 4] }).patchNums).toEqual([1, 2, 3, 4]);
    expect(() => inferVarConfig(keys, { patchNums: [1, 2, 4] })).toThrow(/give L=21 over 3 scales/);
  });
});

describe("patchNumsFromLevels", () => {
  it("reads patch_nums back from an lvl_1L buffer", () => {
    const lvl = [1, 2, 4].flatMap((pn, k) => new Array(pn * pn).fill(k));
    expect(patchNumsFromLevels(lvl)).toEqual([1, 2, 4]);
    expect(patchNumsFromLevels(BigInt64Array.from(lvl.map(BigInt)))).toEqual([1, 2, 4]);
    expect(() => patchNumsFromLevels([0, 1, 1, 1])).toThrow(/scale 1 has 3 tokens, not a square/);
    expect(() => patchNumsFromLevels([0, 2])).toThrow(/not a run of scale indices/);
  });
});
