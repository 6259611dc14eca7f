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
  });
});
