import { describe, expect, it } from "vitest";
import { Random } from "./random.js";

describe("Random (xoshiro128** seeded by SplitMix32)", () => {
  it("is deterministic per seed and differs between seeds", () => {
    const a = Array.from({ length: 8 }, ((r) => () => r.nextUint32())(new Random(42)));
    const b = Array.from({ length: 8 }, ((r) => () => r.nextUint32())(new Random(42)));
    const c = Array.from({ length: 8 }, ((r) => () => r.nextUint32())(new Random(43)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a).size).toBe(8);
  });

  it("uniform, normal and int have the right moments (n = 200k, 5-sigma bounds)", () => {
    const r = new Random(7);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let ns = 0;
    let ns2 = 0;
    const counts = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const u = r.random();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      s2 += u * u;
      const z = r.normal();
      ns += z;
      ns2 += z * z;
      counts[r.int(10)]++;
    }
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(0.005);
    expect(Math.abs(ns / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(ns2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    for (const c of counts) expect(Math.abs(c - n / 10)).toBeLessThan(5 * Math.sqrt((n * 0.1 * 0.9)));
  });

  it("truncNormal stays in range", () => {
    const r = new Random(1);
    for (let i = 0; i < 10_000; i++) {
      const x = r.truncNormal(0, 0.02, -0.04, 0.04);
      expect(x >= -0.04 && x <= 0.04).toBe(true);
    }
  });

  it("rejects bad seeds", () => {
    expect(() => new Random(1.5)).toThrow(/safe integer/);
    expect(() => Random.forIndex(0, -1)).toThrow(/index must be a non-negative safe integer/);
    expect(() => Random.forIndex(0, 0.5)).toThrow(/index/);
    expect(() => Random.forIndex(2 ** 53, 0)).toThrow(/safe integer/);
  });
});

describe("indexed streams Random.forIndex(seed, index) (SplitMix64 over a hash of both)", () => {
  const first = (r: Random, n = 4) => Array.from({ length: n }, () => r.nextUint32());

  it("equal an independent implementation (Python, SplitMix64 checked against its published first output)", () => {
    // tools/fixtures/indexed_random.py: SplitMix64 and xoshiro128** in Python integers, with
    // SplitMix64(0)'s first output 0xe220a8397b1dcdaf asserted; key = mix64(seed ^ mix64(index + γ))
    const want: [number, number, number[]][] = [
      [0, 0, [782269080, 4287299324, 4170165925, 1142706790]],
      [0, 1, [2623289908, 2800498207, 3787528606, 946984661]],
      [1, 0, [3914152638, 3988224739, 3048546789, 12766773]],
      [-1, 7, [2700558573, 1146423790, 2172755279, 202948365]],
      [2 ** 53 - 1, 2 ** 53 - 1, [2628523555, 2934011938, 3826324861, 413742660]],
      [42, 49999, [1971440582, 4291654230, 1383771826, 3876036447]],
    ];
    for (const [seed, index, out] of want) expect(first(Random.forIndex(seed, index)), `${seed}, ${index}`).toEqual(out);
  });

  it("depend on (seed, index) only; distinct indices and seeds give distinct streams", () => {
    const r = Random.forIndex(5, 3);
    expect([r.seed, r.index]).toEqual([5, 3]);
    expect(first(r)).toEqual(first(new Random(5, 3)));
    expect(new Random(5).index).toBeUndefined();
    const seen = new Set<string>();
    for (let s = 0; s < 4; s++) for (let i = 0; i < 2000; i++) seen.add(first(Random.forIndex(s, i), 2).join());
    expect(seen.size).toBe(8000);
    expect(first(Random.forIndex(5, 0))).not.toEqual(first(new Random(5)));
  });

  it("first draws are uniform across indices (labels drawn per image)", () => {
    const n = 100_000;
    const counts = new Array(10).fill(0);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const r = Random.forIndex(0, i);
      counts[r.int(10)]++;
      s += r.random();
    }
    for (const c of counts) expect(Math.abs(c - n / 10)).toBeLessThan(5 * Math.sqrt(n * 0.1 * 0.9));
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
  });
});
