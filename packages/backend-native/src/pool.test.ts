/**
 * The outputs' caching allocator (pool.ts): a disposed output's array is
 * reused for the next output of its length, except where anything else can
 * still see it (a read, a view); its limit holds; the results stay right.
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { type NativeBackend, register, status } from "./index.js";
import { BufferPool } from "./pool.js";

const built = status().cpu;
const valuesOf = (be: NativeBackend, t: tf.Tensor) => be.data.get(t.dataId)?.values;

describe("BufferPool (no backend)", () => {
  it("hands a released array out again for the same length only, up to its limit; poison fills reused arrays with NaN", () => {
    const pool = new BufferPool(1, true); // 1 MiB
    const a = pool.take(1000);
    pool.registered(a);
    pool.released(a);
    expect(pool.take(999)).not.toBe(a);
    const again = pool.take(1000);
    expect(again).toBe(a);
    expect(Number.isNaN(again[0]) && Number.isNaN(again[999])).toBe(true);
    const big = pool.take(300_000); // 1.2 MB: over the limit, not kept
    pool.registered(big);
    pool.released(big);
    expect(pool.take(300_000)).not.toBe(big);
    expect(pool.stats()).toMatchObject({ hits: 1, bytesHeld: 0, limitBytes: 2 ** 20 });
  });

  it("never reuses an array that was read out, one another tensor's view shares, or one it did not hand out", () => {
    const pool = new BufferPool(16);
    const read = pool.take(64);
    pool.registered(read);
    pool.escapedNow(read);
    pool.released(read);
    const viewed = pool.take(64);
    pool.registered(viewed);
    pool.registered(viewed.subarray(8));
    pool.released(viewed);
    const foreign = new Float32Array(64);
    pool.registered(foreign);
    pool.released(foreign);
    expect([read, viewed, foreign]).not.toContain(pool.take(64));
    expect(pool.take(64, true).every((v) => v === 0)).toBe(true);
    expect(pool.stats().hits).toBe(0);
  });
});

describe.skipIf(!built.available)(`the native backend's pool (${built.reason})`, () => {
  beforeAll(async () => {
    register();
    await tf.setBackend("native");
  });

  it("reuses a disposed output's memory for the next output of its shape, with the right values", async () => {
    const be = tf.backend() as NativeBackend;
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.mul(x, 2);
    const mem = valuesOf(be, y);
    y.dispose();
    const hits = be.pool.stats().hits;
    const z = tf.add(x, 1);
    expect(valuesOf(be, z)).toBe(mem);
    expect(be.pool.stats().hits).toBe(hits + 1);
    expect(Array.from(await z.data())).toEqual([2, 3, 4, 5, 6, 7]);
    tf.dispose([x, z]);
  });

  it("an array a caller read (dataSync) stays the caller's after the tensor is disposed", () => {
    const x = tf.tensor([1, 2, 3, 4], [4]);
    const y = tf.mul(x, 3);
    const seen = y.dataSync();
    y.dispose();
    const z = tf.mul(x, 5);
    expect(Array.from(seen)).toEqual([3, 6, 9, 12]);
    expect(Array.from(z.dataSync())).toEqual([5, 10, 15, 20]);
    expect(Array.from(seen)).toEqual([3, 6, 9, 12]);
    tf.dispose([x, z]);
  });
});
