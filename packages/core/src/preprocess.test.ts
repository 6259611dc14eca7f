/**
 * The official preprocessing against Pillow: `resizeLanczos` equals
 * `Image.resize(…, LANCZOS)` and `officialPreprocess` equals the official
 * validation transform, byte for byte (test-fixtures/preprocess, made by
 * tools/fixtures/make_preprocess.py with Pillow 9.4).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "./io/checkpoint.js";
import { officialPreprocess, resizeLanczos } from "./preprocess.js";

const DIR = join(FIXTURES, "preprocess");

describe("official preprocessing = Pillow's", async () => {
  const meta = JSON.parse(readFileSync(join(DIR, "meta.json"), "utf8")) as {
    made_with: string;
    cases: ({ kind: "resize"; src: string; size: [number, number] } | { kind: "official"; src: string; size: number })[];
  };
  const store = await openCheckpoint(join(DIR, "images.safetensors"));
  const read = async (k: string) => {
    const t = await store.read(k);
    return { height: t.shape[0], width: t.shape[1], data: t.data as Uint8Array };
  };

  it(`every case of ${meta.made_with}`, async () => {
    let bytes = 0;
    let differ = 0;
    for (const c of meta.cases) {
      const src = await read(`${c.src}.src`);
      if (c.kind === "resize") {
        const [w, h] = c.size;
        const want = await read(`${c.src}.resize.${w}x${h}`);
        const got = resizeLanczos(src, w, h);
        expect([got.width, got.height]).toEqual([w, h]);
        for (let i = 0; i < want.data.length; i++) if (got.data[i] !== want.data[i]) differ++;
        bytes += want.data.length;
      } else {
        const want = await read(`${c.src}.official.${c.size}`);
        const got = officialPreprocess({ width: src.width, height: src.height, data: Float32Array.from(src.data, (v) => v / 255) }, c.size);
        expect([got.width, got.height]).toEqual([c.size, c.size]);
        for (let i = 0; i < want.data.length; i++) if (Math.round(got.data[i] * 255) !== want.data[i]) differ++;
        bytes += want.data.length;
      }
    }
    console.log(`[parity] preprocessing: ${meta.cases.length} cases, ${bytes} bytes, ${differ} differ from Pillow's`);
    expect(differ).toBe(0);
  });

  it("bad sizes are clear errors", () => {
    const img = { width: 2, height: 2, data: new Uint8Array(12) };
    expect(() => resizeLanczos(img, 0, 2)).toThrow(/positive integers/);
    expect(() => officialPreprocess({ width: 2, height: 2, data: new Float32Array(12) }, 1.5)).toThrow(/positive integer/);
  });
});
