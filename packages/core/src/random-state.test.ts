import { describe, expect, it } from "vitest";
import { Random } from "./random.js";

describe("Random.getState / Random.fromState", () => {
  it("continue the stream exactly (plain and indexed streams, through JSON)", () => {
    for (const make of [() => new Random(42), () => Random.forIndex(7, 3)]) {
      const r = make();
      for (let i = 0; i < 1001; i++) r.nextUint32(); // an odd count: mid-way through random()'s pairs
      const saved = JSON.parse(JSON.stringify(r.getState()));
      const expected = Array.from({ length: 50 }, () => [r.nextUint32(), r.normal(), r.int(1000)]);
      const back = Random.fromState(saved);
      expect(back.seed).toBe(r.seed);
      expect(back.index).toBe(r.index);
      expect(Array.from({ length: 50 }, () => [back.nextUint32(), back.normal(), back.int(1000)])).toEqual(expected);
    }
  });

  it("refuses malformed states", () => {
    expect(() => Random.fromState({ seed: 1, words: [0, 0, 0, 0] })).toThrow(/all-zero/);
    expect(() => Random.fromState({ seed: 1, words: [1, 2, 3] as never })).toThrow(/four unsigned 32-bit/);
    expect(() => Random.fromState({ seed: 1, words: [1, 2, 3, 2 ** 32] })).toThrow(/four unsigned 32-bit/);
    expect(() => Random.fromState({ seed: 1.5, words: [1, 2, 3, 4] })).toThrow(/seed/);
  });
});
