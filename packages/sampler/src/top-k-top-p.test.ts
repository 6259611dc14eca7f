import { Random } from "@nextscale/core";
import { describe, expect, it } from "vitest";
import { argmaxRow, ascendingOrder, filterTopKTopP, sampleRow, sampleTokens, softmax } from "./top-k-top-p.js";

const NEG = Number.NEGATIVE_INFINITY;
const filtered = (row: number[], topK: number, topP: number) => {
  const r = Float64Array.from(row);
  filterTopKTopP(r, { topK, topP });
  return Array.from(r);
};

describe("top-k / top-p filtering (official rule)", () => {
  it("top-k keeps every logit >= the k-th largest, ties included", () => {
    expect(filtered([1, 5, 3, 5, 2], 2, 0)).toEqual([NEG, 5, NEG, 5, NEG]);
    expect(filtered([1, 5, 3, 3, 2], 2, 0)).toEqual([NEG, 5, 3, 3, NEG]); // tie at the k-th value: both kept
    expect(filtered([1, 2, 3], 0, 0)).toEqual([1, 2, 3]);
    expect(filtered([1, 2, 3], 5, 0)).toEqual([1, 2, 3]);
  });

  it("top-p drops the smallest tokens whose cumulative probability <= 1-p", () => {
    // probabilities of log([0.1, 0.2, 0.3, 0.4]): ascending cumsum 0.1, 0.3, 0.6, 1.0
    const row = [0.1, 0.2, 0.3, 0.4].map(Math.log);
    expect(filtered(row, 0, 0.75).map((x) => x === NEG)).toEqual([true, false, false, false]); // 0.1 <= 0.25
    expect(filtered(row, 0, 0.7).map((x) => x === NEG)).toEqual([true, true, false, false]); // 0.3 <= 0.3
    expect(filtered(row, 0, 0.5).map((x) => x === NEG)).toEqual([true, true, false, false]); // 0.6 > 0.5
  });

  it("top-p decides in float32 as PyTorch does: float32 cumulative sums against fl32(1 - p)", () => {
    // the smallest token's probability 0.04 + 1e-11: above 1 − 0.96 in float64 (0.040000000000000036), but its
    // float32 cumsum rounds to fl32(0.04) = 0.03999999910593033 = fl32(1 − 0.96), so PyTorch drops it
    const row = [0.04 + 1e-11, 0.96 - 1e-11].map(Math.log);
    expect(Math.fround(0.04 + 1e-11)).toBe(Math.fround(1 - 0.96));
    expect(0.04 + 1e-11 > 1 - 0.96).toBe(true);
    expect(filtered(row, 0, 0.96).map((x) => x === NEG)).toEqual([true, false]);
  });

  it("top-p always keeps the largest token, even when p is tiny", () => {
    const r = filtered([0, 0, 10], 0, 1e-9);
    expect(r.map((x) => x === NEG)).toEqual([true, true, false]);
    // all equal: the stable ascending order puts the last index last, so it survives
    expect(filtered([1, 1, 1], 0, 1e-9).map((x) => x === NEG)).toEqual([true, true, false]);
  });

  it("top-k is applied before top-p", () => {
    // after top-2 the survivors are [2, 3] with softmax [0.269, 0.731]; top-p 0.5 drops the 0.269
    expect(filtered([1, 2, 3], 2, 0.5)).toEqual([NEG, NEG, 3]);
  });

  it("top-k 1 is greedy argmax, first index on ties", () => {
    expect(argmaxRow([1, 7, 7, 2])).toBe(1);
    const out = sampleTokens(Float32Array.from([0, 1, 9, 3, 8, 8]), 3, { topK: 1 }, new Random(0));
    expect(Array.from(out)).toEqual([2, 1]);
  });

  it("bad settings are clear errors", () => {
    expect(() => sampleTokens(new Float32Array(4), 4, { topK: -1 }, new Random(0))).toThrow(/top-k/);
    expect(() => sampleTokens(new Float32Array(4), 4, { topP: 1.5 }, new Random(0))).toThrow(/top-p/);
  });
});

describe("top-p's ascending order of a float32 row (native sort of packed keys)", () => {
  const reference = (row: Float32Array) => Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[a] - row[b] || a - b);

  it("is the stable comparator sort's order: ties by index, −0 = +0, infinities, negatives, subnormals", () => {
    const rng = new Random(7);
    const special = [0, -0, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, -1];
    let rows = 0;
    for (const V of [1, 2, 5, 512, 4096]) {
      for (let t = 0; t < 20; t++) {
        const row = new Float32Array(V);
        for (let i = 0; i < V; i++) {
          const u = rng.random();
          // a few distinct values (many ties), specials, or spread-out logits
          row[i] = u < 0.3 ? Math.floor(rng.random() * 4) - 2 : u < 0.4 ? special[Math.floor(rng.random() * special.length)] : (rng.random() - 0.5) * 40;
        }
        expect(Array.from(ascendingOrder(row))).toEqual(reference(row));
        rows++;
      }
    }
    console.log(`${rows} rows (V 1 … 4096) ordered as the comparator sort orders them`);
  });

  it("float64 rows keep the comparator sort", () => {
    const row = Float64Array.from([0.5, 0.1 + 1e-12, 0.1, -0, 0]);
    expect(Array.from(ascendingOrder(row))).toEqual([3, 4, 2, 1, 0]);
  });
});

describe("sampling frequencies match the filtered softmax", () => {
  it("chi-square over 100k draws (p = 0.001 critical value)", () => {
    const logits = [2.0, 1.0, 0.5, 0.0, -1.0, 3.0, -2.0, 1.5];
    const opts = { topK: 6, topP: 0.9 };
    const f = Float64Array.from(logits);
    filterTopKTopP(f, opts);
    const p = softmax(f);
    const n = 100_000;
    const counts = new Array(logits.length).fill(0);
    const rng = new Random(123);
    for (let i = 0; i < n; i++) counts[sampleRow(f, rng)]++;
    let chi2 = 0;
    let dof = -1;
    for (let i = 0; i < p.length; i++) {
      if (p[i] === 0) {
        expect(counts[i], `token ${i} was filtered out`).toBe(0);
        continue;
      }
      chi2 += (counts[i] - n * p[i]) ** 2 / (n * p[i]);
      dof++;
    }
    // 99.9th percentile of chi-square: dof 4 -> 18.47, dof 5 -> 20.52, dof 3 -> 16.27
    const crit: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52 };
    console.log(`chi2=${chi2.toFixed(2)} dof=${dof} (critical ${crit[dof]}), kept ${dof + 1} of ${p.length} tokens`);
    expect(chi2).toBeLessThan(crit[dof]);
  });
});
