import { openCheckpoint, Random, type TensorStore, toFloat32 } from "@nextscale/core";
import { fidBundles } from "@nextscale/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frechetDistance, StatisticsError } from "./frechet-distance.js";
import { inceptionScore } from "./inception-score.js";
import { precisionRecall } from "./precision-recall.js";
import { FeatureStatistics, loadStatistics, mergeStatistics, statisticsToNpz } from "./statistics.js";

const rel = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);

/** Statistics of an (N × d) feature set, added in uneven batches to exercise the merge. */
function statsOf(x: Float32Array, d: number) {
  const s = new FeatureStatistics(d);
  const n = x.length / d;
  for (let r = 0, b = 1; r < n; r += b, b = (b * 3 + 1) % 97 || 1) s.add(x.subarray(r * d, Math.min(n, r + b) * d));
  return s.result();
}

for (const bundle of fidBundles()) {
  describe(`metrics on FID bundle ${bundle.name}`, () => {
    let io: TensorStore;
    const read = async (k: string) => ({ data: toFloat32(await io.read(k)), shape: io.info(k).shape });
    beforeAll(async () => {
      io = await openCheckpoint(bundle.file("io.safetensors"));
    });
    afterAll(() => io.close());

    const cases: [string, string, string][] = [
      ["small", "fd_small_a", "fd_small_b"],
      ["big_rank_deficient", "fd_big_a", "fd_big_b"],
    ];
    for (const [name, ka, kb] of cases) {
      it(`Fréchet distance "${name}" matches pytorch-fid within 1e-6 relative`, async () => {
        const want = bundle.meta.frechet_distance[name] as number;
        const a = await read(ka);
        const b = await read(kb);
        const d = a.shape[1];
        const t0 = performance.now();
        const r = frechetDistance(statsOf(a.data, d), statsOf(b.data, d));
        const e = rel(r.distance, want);
        console.log(
          `[parity] ${bundle.name} frechet_distance.${name} (${a.shape[0]}×${d}, rank ${r.rank}): got=${r.distance} want=${want} rel_err=${e.toExponential(3)} (${(performance.now() - t0).toFixed(0)} ms)`,
        );
        expect(r.offsetApplied).toBe(false);
        expect(e).toBeLessThan(1e-6);
      });
    }

    it("Inception Score (one split) matches within 1e-6 relative", async () => {
      const { data, shape } = await read("is_logits");
      const want = bundle.meta.inception_score_one_split as number;
      const got = inceptionScore(data, shape[1], 1);
      const e = rel(got.mean, want);
      console.log(`[parity] ${bundle.name} inception_score: got=${got.mean} want=${want} rel_err=${e.toExponential(3)}`);
      expect(e).toBeLessThan(1e-6);
      expect(got.std).toBe(0);
      const ten = inceptionScore(data, shape[1], 10);
      expect(ten.scores).toHaveLength(10);
      expect(ten.mean).toBeLessThan(got.mean); // smaller splits see fewer classes
    });

    it("precision and recall (k = 3) match exactly", async () => {
      const real = await read("pr_real");
      const fake = await read("pr_fake");
      const want = bundle.meta.precision_recall_k3 as { precision: number; recall: number };
      const got = precisionRecall(real.data, fake.data, real.shape[1], 3);
      console.log(`[parity] ${bundle.name} precision_recall_k3: got=${JSON.stringify(got)} want=${JSON.stringify(want)}`);
      expect(got).toEqual(want);
    });
  });
}

describe("feature statistics", () => {
  it("the streamed covariance equals the two-pass one and survives an npz round trip", async () => {
    const d = 5;
    const n = 40;
    const x = new Float32Array(n * d).map((_, i) => Math.sin(i * 1.7) * 3 + 100 + (i % d)); // offset mean: cancellation check
    const s = statsOf(x, d);
    const mu = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mu[j] += x[r * d + j] / n;
    let worst = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let c = 0;
        for (let r = 0; r < n; r++) c += (x[r * d + i] - mu[i]) * (x[r * d + j] - mu[j]);
        worst = Math.max(worst, Math.abs(s.sigma[i * d + j] - c / (n - 1)));
      }
    }
    expect(worst).toBeLessThan(1e-12);
    expect(s.count).toBe(n);
    const back = await loadStatistics(statisticsToNpz({ stats: s, spatial: s }));
    expect(Array.from(back.stats.mu)).toEqual(Array.from(s.mu));
    expect(Array.from(back.stats.sigma)).toEqual(Array.from(s.sigma));
    expect(back.stats.count).toBe(n);
    expect(back.spatial?.mu.length).toBe(d);
    expect(frechetDistance(s, back.stats).distance).toBeCloseTo(0, 9);
  });

  it("statistics of shards (i mod N = K, saved and reloaded) merge into the one-run statistics, FID equal to float64 rounding", async () => {
    const d = 64;
    const n = 2000;
    // seeded full-rank features (n > d, as 50,000 Inception features are) with an offset mean and correlated dimensions
    const rng = new Random(5);
    const x = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      const common = rng.normal();
      for (let j = 0; j < d; j++) x[r * d + j] = 50 + j + rng.normal() * (1 + (j % 5)) + common * 2;
    }
    const ref = statsOf(x.map((v, i) => v * 1.01 + (i % 7) * 0.1), d);
    /** Statistics of the rows `pick` in batches of 50, as computeStatistics accumulates a folder. */
    const batched = (pick: number[], dim = d, size = 50) => {
      const s = new FeatureStatistics(dim);
      for (let o = 0; o < pick.length; o += size) {
        const rows = pick.slice(o, o + size);
        const b = new Float32Array(rows.length * dim);
        for (const [k, r] of rows.entries()) b.set(x.subarray(r * d, r * d + dim), k * dim);
        s.add(b);
      }
      return s.result();
    };
    // the reference's first 8 dimensions stand in for the spatial reference
    const refS = { mu: ref.mu.slice(0, 8), sigma: Float64Array.from({ length: 64 }, (_, i) => ref.sigma[Math.floor(i / 8) * d + (i % 8)]) };
    const all = Array.from({ length: n }, (_, i) => i);
    const one = { stats: batched(all), spatial: batched(all, 8), extractor: "test" };
    // the rounding floor: the same images in batches of 37 instead of 50
    const fOne = frechetDistance(ref, one.stats).distance;
    const floor = rel(frechetDistance(ref, batched(all, d, 37)).distance, fOne);
    console.log(`[merge] one run in batches of 37 instead of 50: FID ${floor.toExponential(2)} relative (the float64 rounding floor)`);
    for (const N of [2, 3, 7]) {
      const shards = await Promise.all(
        Array.from({ length: N }, async (_, K) => {
          const pick = all.filter((i) => i % N === K);
          const file = await loadStatistics(statisticsToNpz({ stats: batched(pick), spatial: batched(pick, 8), extractor: "test" }));
          return { ...file, name: `shard ${K}/${N}` };
        }),
      );
      const merged = mergeStatistics(shards);
      expect(merged.stats.count).toBe(n);
      expect(merged.spatial?.count).toBe(n);
      expect(merged.extractor).toBe("test");
      let muErr = 0;
      let sigmaErr = 0;
      let scale = 0;
      for (let i = 0; i < d; i++) muErr = Math.max(muErr, Math.abs(merged.stats.mu[i] - one.stats.mu[i]) / Math.abs(one.stats.mu[i]));
      for (let i = 0; i < d * d; i++) {
        sigmaErr = Math.max(sigmaErr, Math.abs(merged.stats.sigma[i] - one.stats.sigma[i]));
        scale = Math.max(scale, Math.abs(one.stats.sigma[i]));
      }
      const fMerged = frechetDistance(ref, merged.stats).distance;
      const sOne = frechetDistance(refS, one.spatial).distance;
      console.log(
        `[merge] ${N} shards of ${n}×${d}: mean ${muErr.toExponential(2)} relative, covariance ${(sigmaErr / scale).toExponential(2)} of its scale; FID one run ${fOne}, merged ${fMerged} (difference ${Math.abs(fMerged - fOne).toExponential(2)}, ${rel(fMerged, fOne).toExponential(2)} relative)`,
      );
      expect(muErr).toBeLessThan(1e-14);
      expect(sigmaErr / scale).toBeLessThan(1e-13);
      expect(rel(fMerged, fOne)).toBeLessThan(1e-10);
      expect(rel(frechetDistance(refS, merged.spatial!).distance, sOne)).toBeLessThan(1e-10);
    }
    // a single part is itself; merging is associative up to rounding
    const halves = [batched(all.slice(0, 700)), batched(all.slice(700))].map((stats) => ({ stats, extractor: "test" }));
    expect(rel(frechetDistance(ref, mergeStatistics(halves).stats).distance, fOne)).toBeLessThan(1e-10);
    expect(Array.from(mergeStatistics([halves[0]]).stats.mu)).toEqual(Array.from(halves[0].stats.mu));
  });

  it("merging refuses parts without counts, of different extractors or dimensions, and spatial statistics on some parts only", () => {
    const a = { stats: { mu: new Float64Array(2), sigma: Float64Array.of(1, 0, 0, 1), count: 10 }, extractor: "x", name: "a.npz" };
    const b = { ...a, name: "b.npz" };
    expect(mergeStatistics([a, b]).stats.count).toBe(20);
    expect(() => mergeStatistics([])).toThrow(/nothing to merge/);
    expect(() => mergeStatistics([a, { ...b, stats: { mu: b.stats.mu, sigma: b.stats.sigma } }])).toThrow(/b\.npz statistics: no sample count/);
    expect(() => mergeStatistics([a, { ...b, extractor: "y" }])).toThrow(/different feature extractors/);
    expect(() => mergeStatistics([a, { ...b, stats: { mu: new Float64Array(3), sigma: new Float64Array(9), count: 4 } }])).toThrow(/feature dimensions differ/);
    expect(() => mergeStatistics([a, { ...b, spatial: a.stats }])).toThrow(/a\.npz has no spatial/);
    expect(() => mergeStatistics([a, { ...b, stats: { ...b.stats, count: 2.5 } }])).toThrow(/count must be a positive integer/);
  });

  it("rejects mismatched dimensions, too few samples and non-statistics files clearly", async () => {
    const a = { mu: new Float64Array(3), sigma: new Float64Array(9) };
    const b = { mu: new Float64Array(4), sigma: new Float64Array(16) };
    expect(() => frechetDistance(a, b)).toThrow(/feature dimensions differ: 3 vs 4/);
    expect(() => frechetDistance(a, { mu: new Float64Array(3), sigma: new Float64Array(8) })).toThrow(StatisticsError);
    const s = new FeatureStatistics(3);
    expect(() => s.add(new Float32Array(7))).toThrow(/not a multiple of the feature dimension 3/);
    s.add(new Float32Array(3));
    expect(() => s.result()).toThrow(/at least 2 feature vectors/);
    const { writeNpz } = await import("@nextscale/core");
    const npz = writeNpz([["arr_0", { dtype: "float32", shape: [2], data: new Float32Array(2) }]]);
    await expect(loadStatistics(npz)).rejects.toThrow(/no "mu" and "sigma"/);
    expect(() => precisionRecall(new Float32Array(6), new Float32Array(8), 2, 3)).toThrow(/more than k = 3 samples/);
  });
});

describe("float64 linear algebra", () => {
  it("tr (S1·S2)^½ has the rank of S1 and equals tr S for S1 = S2 = S", async () => {
    const { traceSqrtProduct } = await import("./frechet-distance.js");
    for (const [n, samples] of [
      [67, 200],
      [40, 13], // rank-deficient
    ]) {
      const mk = (seed: number) => {
        const s = new FeatureStatistics(n);
        let state = seed;
        const x = new Float64Array(samples * n).map(() => {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          return state / 2 ** 32 - 0.5;
        });
        s.add(x);
        return s.result().sigma;
      };
      const a = mk(1);
      const b = mk(2);
      const r = traceSqrtProduct(a, b, n);
      expect(r.rank).toBe(Math.min(n, samples - 1));
      expect(r.trace).toBeGreaterThan(0);
      // tr (S·S)^½ = tr S for any PSD S
      let tr = 0;
      for (let i = 0; i < n; i++) tr += a[i * n + i];
      expect(Math.abs(traceSqrtProduct(a, a, n).trace - tr) / tr).toBeLessThan(1e-9);
    }
  });
});
