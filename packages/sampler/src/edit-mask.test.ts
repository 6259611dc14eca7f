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
import { loadVqvae } from "@nextscale/tokenizer";
import { VarTransformer } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { boxKeepMask, EditMaskError, imageKeepMask, type KeepMask, scaleKeepMask, scaleKeepMaskValues } from "./edit-mask.js";
import { generate } from "./generate.js";

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

describe("keep-masks that would silently do nothing are refused", () => {
  const square = (S: number, x0: number, y0: number, w: number, h: number) => {
    const data = new Float32Array(S * S);
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data[y * S + x] = 1;
    return { width: S, height: S, data };
  };

  it("a box smaller than one token: in-painting regenerates nothing, out-painting keeps nothing (sizes in pixels)", () => {
    // 256 px, 16×16 tokens: a token is 16 px; this box is 5.12 px and covers no token after rounding
    const small: [number, number, number, number] = [0.5, 0.5, 0.52, 0.52];
    expect(() => boxKeepMask(16, small, "inpaint", { imageSize: 256 })).toThrow(EditMaskError);
    expect(() => boxKeepMask(16, small, "inpaint", { imageSize: 256 })).toThrow(
      /the box 0\.5,0\.5,0\.52,0\.52 \(5\.12×5\.12 px, width × height\) to regenerate covers no token: one token is 16×16 px \(the last scale has 16×16 tokens over 256×256 px\)/,
    );
    expect(() => boxKeepMask(16, small, "outpaint", { imageSize: 256 })).toThrow(/to keep covers no token: one token is 16×16 px.*nothing of the image would be kept/);
    // without the image size: in fractions of the side
    expect(() => boxKeepMask(16, small, "inpaint")).toThrow(/0\.02×0\.02 of the image side.*one token is 1\/16 of the image side/);
    // one token's box is fine, in both modes
    expect(boxKeepMask(16, [0.5, 0.5, 0.5625, 0.5625], "inpaint").data.filter((v) => v === 0)).toHaveLength(1);
    expect(boxKeepMask(16, [0.5, 0.5, 0.5625, 0.5625], "outpaint").data.filter((v) => v === 1)).toHaveLength(1);
  });

  it("edges round as Python's round (halves to even), as the official get_edit_mask", () => {
    // P = 4: 0.125·4 = 0.5 -> 0, 0.625·4 = 2.5 -> 2 (JavaScript's Math.round would give 1 and 3)
    const m = boxKeepMask(4, [0.125, 0, 0.625, 1], "outpaint");
    expect(Array.from(m.data)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // a box exactly one token high from 1.5 to 2.5 tokens rounds to 2…2: no token
    expect(() => boxKeepMask(4, [0.375, 0, 0.625, 1], "inpaint", { imageSize: 64 })).toThrow(/64×16 px, width × height\) to regenerate covers no token/);
  });

  it("out-painting that keeps every token generates nothing", () => {
    expect(() => boxKeepMask(16, [0, 0, 1, 1], "outpaint")).toThrow(/covers every token \(16×16\), so nothing would be generated/);
    // in-painting the whole image keeps the coarse scales (pn² ≤ 3): allowed
    expect(boxKeepMask(16, [0, 0, 1, 1], "inpaint").data.every((v) => v === 0)).toBe(true);
  });

  it("boxes outside [0, 1], upside down, empty or malformed are clear errors", () => {
    expect(() => boxKeepMask(16, [0.5, 0.2, 0.3, 0.8], "inpaint")).toThrow(/y0 \(0\.5\) must be less than y1 \(0\.3\)/);
    expect(() => boxKeepMask(16, [0.5, 0.2, 0.5, 0.8], "inpaint")).toThrow(/y0 \(0\.5\) must be less than y1 \(0\.5\)/);
    expect(() => boxKeepMask(16, [0.1, 0.8, 0.3, 0.2], "inpaint")).toThrow(/x0 \(0\.8\) must be less than x1 \(0\.2\)/);
    expect(() => boxKeepMask(16, [-0.1, 0, 0.5, 1.5], "inpaint")).toThrow(/y0, x1 are outside \[0, 1\]/);
    expect(() => boxKeepMask(16, [0, 0, Number.NaN, 1], "inpaint")).toThrow(/four numbers/);
    expect(() => boxKeepMask(16, [0, 0, 1] as unknown as [number, number, number, number], "inpaint")).toThrow(/four numbers/);
    expect(() => boxKeepMask(0, [0, 0, 1, 1], "inpaint")).toThrow(/positive integer/);
    expect(() => boxKeepMask(16, [0, 0, 1, 1], "paint" as "inpaint")).toThrow(/mode must be/);
  });

  it("an image mask whose marked region covers no token names its size and the token's", () => {
    // 256 px, 16 px tokens: a 6×5 px spot
    expect(() => imageKeepMask(square(256, 100, 40, 6, 5), 256, 16, "inpaint")).toThrow(
      /the marked region \(30 px marked, within 6×5 px, width × height, at x 100…105, y 40…44\) to regenerate covers no token: one token is 16×16 px/,
    );
    expect(() => imageKeepMask(square(256, 100, 40, 6, 5), 256, 16, "outpaint")).toThrow(/to keep covers no token: one token is 16×16 px/);
    expect(() => imageKeepMask(square(256, 0, 0, 0, 0), 256, 16, "inpaint")).toThrow(/empty: no pixel is > 0\.5/);
    // a token's worth of marked pixels on the grid is enough
    expect(imageKeepMask(square(256, 32, 48, 16, 16), 256, 16, "inpaint").data.filter((v) => v <= 0.5)).toHaveLength(1);
    // 16×16 px straddling two tokens, half of each: both regenerated (keep 1 − 0.5 ≤ 0.5), neither kept (> 0.5 needed)
    expect(imageKeepMask(square(256, 24, 0, 16, 16), 256, 16, "inpaint").data.filter((v) => v <= 0.5)).toHaveLength(2);
    expect(() => imageKeepMask(square(256, 24, 0, 16, 16), 256, 16, "outpaint")).toThrow(/within 16×16 px.* to keep covers no token/);
  });
});

describe("generate() with a keep-mask that keeps every token (teacher forcing)", () => {
  it("is allowed: every scale's tokens are the given ones (the mask constructors refuse such masks from users)", async () => {
    const dir = join(FIXTURES, "var-tiny");
    const vae = await loadVqvae(join(dir, "vae.pth"), { patchNums: [1, 2, 3, 4] });
    const store = await openCheckpoint(join(dir, "var.pth"));
    const model = await VarTransformer.fromCheckpoint(store);
    await store.close();
    const V = model.config.vocabSize;
    const given = model.config.patchNums.map((pn) => Int32Array.from({ length: pn * pn }, (_, i) => (7 * i + pn) % V));
    const indices = given.map((t, k) => tf.tensor2d(t, [1, model.config.patchNums[k] ** 2], "int32"));
    const P = 4;
    try {
      const all = { size: P, data: new Float32Array(P * P).fill(1) };
      const res = await generate(vae, model, { labels: [1], keep: { indices, mask: all } });
      const got = await Promise.all(res.indices.map((t) => t.data()));
      tf.dispose([res.images, res.fHat, ...res.indices]);
      for (const [k, g] of got.entries()) expect(Array.from(g)).toEqual(Array.from(given[k]));
      expect(() => boxKeepMask(P, [0.5, 0.5, 0.5, 0.5], "inpaint")).toThrow(EditMaskError);
    } finally {
      tf.dispose(indices);
      vae.dispose();
      model.dispose();
    }
  });
});
