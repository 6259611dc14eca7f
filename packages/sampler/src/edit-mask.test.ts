/**
 * Edit masks against PyTorch: every per-scale keep-mask value and decision
 * of test-fixtures/edit-masks (made by tools/fixtures/make_edit_masks.py
 * with Debian's torch 1.13.1 on the CPU, running the official
 * `replace_embedding` resize), for the official 256 px and 512 px schedules,
 * boxes at many fractions and image-space masks, in- and out-painting, one
 * image and a batch.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openCheckpoint, toFloat32 } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { boxKeepMask, imageKeepMask, type KeepMask, scaleKeepMask, scaleKeepMaskValues } from "./edit-mask.js";

const DIR = join(FIXTURES, "edit-masks");

interface Case {
  name: string;
  schedule: string;
  patch_nums: number[];
  kind: "box" | "image";
  mode: "inpaint" | "outpaint";
  box?: [number, number, number, number];
  image?: "disc" | "ring" | "soft" | "stripes";
  side?: number;
}

/** The image-space masks of make_edit_masks.py, from the same integer arithmetic. */
function imageMask(kind: NonNullable<Case["image"]>, S: number): Float32Array {
  const out = new Float32Array(S * S);
  const q = (a: number, b: number) => Math.floor(a / b);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let v: number;
      if (kind === "disc") v = (x - q(S * 5, 8)) ** 2 + (y - q(S * 3, 8)) ** 2 < q(S, 4) ** 2 ? 1 : 0;
      else if (kind === "ring") {
        const r2 = (x - q(S, 2)) ** 2 + (y - q(S, 2)) ** 2;
        v = r2 < q(S * 3, 8) ** 2 && r2 >= q(S, 5) ** 2 ? 1 : 0;
      } else if (kind === "soft") v = ((x * 7 + y * 13) % 256) / 255;
      else v = q(x, q(S, 16)) % 3 === 0 ? 1 : 0;
      out[y * S + x] = v;
    }
  }
  return out;
}

function keepMaskOf(c: Case): KeepMask {
  const P = c.patch_nums[c.patch_nums.length - 1];
  if (c.kind === "box") return boxKeepMask(P, c.box!, c.mode);
  const S = c.side!;
  return imageKeepMask({ width: S, height: S, data: imageMask(c.image!, S) }, S, P, c.mode);
}

describe("edit masks equal PyTorch's, value for value and decision for decision", async () => {
  const meta = JSON.parse(readFileSync(join(DIR, "meta.json"), "utf8")) as { made_with: string; cases: Case[] };
  const store = await openCheckpoint(join(DIR, "masks.safetensors"));
  const read = async (k: string) => toFloat32(await store.read(k));

  it(`${meta.cases.length} masks (${meta.made_with})`, async () => {
    const stats = { maps: 0, values: 0, valueMismatches: 0, decisions: 0, decisionMismatches: 0, atHalf: 0 };
    const failures: string[] = [];
    for (const c of meta.cases) {
      const keep = keepMaskOf(c);
      const want = await read(`${c.name}.keep`);
      expect(Array.from(keep.data), `${c.name} keep-mask (${JSON.stringify(c)})`).toEqual(Array.from(want));
      for (const B of [1, 2]) {
        for (const [k, pn] of c.patch_nums.entries()) {
          const ref = await read(`${c.name}.B${B}.s${k}`);
          const got = scaleKeepMaskValues(keep, pn, B);
          const bits = scaleKeepMask(keep, pn, B);
          stats.maps++;
          for (let i = 0; i < ref.length; i++) {
            stats.values++;
            if (got[i] !== ref[i]) stats.valueMismatches++;
            if (Math.abs(ref[i] - 0.5) < 1e-6) stats.atHalf++;
            const decision = pn * pn <= 3 ? 1 : ref[i] > 0.5 ? 1 : 0;
            stats.decisions++;
            if (bits[i] !== decision) {
              stats.decisionMismatches++;
              if (failures.length < 5) failures.push(`${c.name} B=${B} pn=${pn} token ${i}: torch ${ref[i]} (keep ${decision}), ours ${got[i]}`);
            }
          }
        }
      }
    }
    console.log(
      `[parity] edit masks: ${meta.cases.length} masks, ${stats.maps} per-scale maps (batch 1 and 2), ${stats.values} values: ` +
        `${stats.valueMismatches} differ from PyTorch's; ${stats.decisions} keep decisions, ${stats.atHalf} of them within 1e-6 of 0.5: ` +
        `${stats.decisionMismatches} differ`,
    );
    expect(failures).toEqual([]);
    expect(stats.valueMismatches).toBe(0);
  });

  it("the official demo's box, where float64 arithmetic decided otherwise (scales 6 and 10 of 16)", () => {
    // PyTorch's masks (issue: ours were 111111110011100001100001110011111111 at pn 6, and others at pn 10)
    const keep = boxKeepMask(16, [0.25, 0.25, 0.75, 0.75], "inpaint");
    const bits = (pn: number, B: number) => Array.from(scaleKeepMask(keep, pn, B)).join("");
    for (const B of [1, 2]) {
      expect(bits(6, B)).toBe("111111110011100011100011111111111111");
      expect(bits(10, B)).toBe("1111111111111111111111100001111100000111110000011111000001111100000111111111111111111111111111111111");
    }
  });
});
