/**
 * tools/device/parity/vitest-shim.mjs, the stand-in for vitest that the GPU
 * run's parity bundles use: a failing or unknown matcher must fail, never
 * pass silently; its runner reports each test's full name, status and first
 * error line, and gives beforeEach the context setupTestBackend uses.
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types
import * as shim from "../../device/parity/vitest-shim.mjs";

const fails = (f: () => unknown, message?: RegExp) => expect(f).toThrow(message ?? /./);

describe("device vitest shim: expect", () => {
  it("a failing matcher throws, a passing one does not; .not flips it", () => {
    fails(() => shim.expect(1).toBe(2), /expected 1 to be 2/);
    shim.expect(1).toBe(1);
    shim.expect(1).not.toBe(2);
    fails(() => shim.expect(1).not.toBe(1));
    fails(() => shim.expect(3).toBeLessThan(2));
    fails(() => shim.expect(undefined).toBeDefined());
    fails(() => shim.expect("abc").toMatch(/x/));
    fails(() => shim.expect([1, 2]).toHaveLength(3));
    fails(() => shim.expect(0.1 + 0.2).toBeCloseTo(0.4, 5));
    shim.expect(0.1 + 0.2).toBeCloseTo(0.3, 10);
  });

  it("an unknown matcher fails with 'unsupported matcher'", () => {
    fails(() => shim.expect(1).toBeSomethingNew(1), /unsupported matcher toBeSomethingNew/);
    fails(() => shim.expect(1).not.toFrobnicate(), /unsupported matcher toFrobnicate/);
  });

  it("toEqual compares deeply (typed arrays, nested objects, undefined properties), toStrictEqual does not ignore them", () => {
    shim.expect({ a: [1, { b: new Float32Array([1, 2]) }], c: undefined }).toEqual({ a: [1, { b: new Float32Array([1, 2]) }] });
    fails(() => shim.expect({ a: [1, { b: 2 }] }).toEqual({ a: [1, { b: 3 }] }));
    fails(() => shim.expect(new Float32Array([1, 2])).toEqual([1, 2]));
    fails(() => shim.expect([1, 2]).toEqual([1, 2, 3]));
    fails(() => shim.expect({ a: 1, c: undefined }).toStrictEqual({ a: 1 }));
    shim.expect(new Map([["k", [1]]])).toEqual(new Map([["k", [1]]]));
    shim.expect(["var-tiny", "x", "var-tiny-saln"]).toEqual(shim.expect.arrayContaining(["var-tiny-saln", "var-tiny"]));
    shim.expect({ loaded: 0, bytes: 0, key: "", more: 1 }).toMatchObject({ loaded: 0, key: "" });
  });

  it("toThrow with a string, a regex, a class; rejects", async () => {
    const boom = () => {
      throw new RangeError("bad shape [2, 3]");
    };
    shim.expect(boom).toThrow();
    shim.expect(boom).toThrow("shape [2");
    shim.expect(boom).toThrow(/shape \[2, 3\]/);
    shim.expect(boom).toThrow(RangeError);
    fails(() => shim.expect(boom).toThrow(/other/), /matching/);
    fails(() => shim.expect(boom).toThrow(TypeError));
    fails(() => shim.expect(() => 1).toThrow(), /nothing was thrown/);
    await shim.expect(Promise.reject(new Error("nope"))).rejects.toThrow(/nope/);
    await expect(shim.expect(Promise.resolve(1)).rejects.toThrow()).rejects.toThrow(/expected a rejection/);
    await expect(shim.expect(Promise.reject(new Error("nope"))).rejects.toThrow(/yes/)).rejects.toThrow();
    await shim.expect(Promise.resolve(2)).resolves.toBe(2);
  });
});

describe("device vitest shim: run", () => {
  it("runs the collected tree in order: hooks, ctx.task names, ctx.skip, runIf, each, failures, timeouts", async () => {
    const log: string[] = [];
    shim.setFile("/repo/packages/x/src/a.test.ts", "packages/x/src/a.test.ts");
    shim.beforeEach((ctx: { task: { name: string; suite?: unknown; file: { filepath: string } }; skip(r: string): void }) => {
      const names: string[] = [];
      for (let t: { name: string; suite?: unknown } | undefined = ctx.task; t && t !== ctx.task.file; t = t.suite as typeof t) names.unshift(t.name);
      log.push(`${ctx.task.file.filepath}: ${names.join(" > ")}`);
      if (names.join(" > ").includes("skip me")) ctx.skip("listed");
    });
    shim.describe("outer", () => {
      shim.beforeAll(() => {
        log.push("beforeAll");
      });
      shim.it("passes", () => shim.expect([1, [2]]).toEqual([1, [2]]));
      shim.it("fails", () => shim.expect(1).toBe(2));
      shim.it("skip me", () => {
        log.push("ran a skipped test");
      });
      shim.it.runIf(false)("not run", () => {});
      shim.it("times out", () => new Promise(() => {}), 50);
      shim.describe.each([["a", 1]])("each %s", (name: string, n: number) => {
        shim.it(`has ${name} ${n}`, () => {});
      });
    });
    const r = await shim.run();
    expect(r.tests.map((t: { name: string; status: string }) => `${t.name}: ${t.status}`)).toEqual([
      "outer > passes: passed",
      "outer > fails: failed",
      "outer > skip me: skipped",
      "outer > not run: skipped",
      "outer > times out: failed",
      "outer > each a > has a 1: passed",
    ]);
    expect([r.passed, r.failed, r.skipped]).toEqual([2, 2, 2]);
    expect(r.tests[1].error).toMatch(/expected 1 to be 2/);
    expect(r.tests[2].reason).toBe("listed");
    expect(r.tests[4].error).toMatch(/timed out after 50 ms/);
    expect(log.slice(0, 2)).toEqual(["beforeAll", "/repo/packages/x/src/a.test.ts: outer > passes"]);
    expect(log).not.toContain("ran a skipped test");
  });
});
