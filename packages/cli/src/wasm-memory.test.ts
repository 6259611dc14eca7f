/**
 * tfjs-backend-wasm's full heap surfaces as a RangeError or
 * WebAssembly.RuntimeError about bounds; the CLI names it as running out of
 * memory (`explainWasmMemoryError`, used by `main` for every command).
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { explainWasmMemoryError } from "./main.js";

describe("explainWasmMemoryError", () => {
  it("names wasm's bounds errors as out of memory, and nothing else", () => {
    console.log(`backend: ${tf.getBackend()}`);
    for (const e of [new RangeError("offset is out of bounds"), new WebAssembly.RuntimeError("memory access out of bounds"), new RangeError("Cannot enlarge memory arrays")]) {
      expect(explainWasmMemoryError(e, "wasm"), e.message).toMatch(/the wasm backend ran out of memory .*at most 4 GB\. Try a smaller --batch, or --backend native/);
    }
    expect(explainWasmMemoryError(new RangeError("offset is out of bounds"), "native")).toBeUndefined();
    expect(explainWasmMemoryError(new Error("memory access out of bounds"), "wasm")).toBeUndefined(); // not a RangeError/RuntimeError
    expect(explainWasmMemoryError(new RangeError("Invalid array length"), "wasm")).toBeUndefined();
  });

  it.runIf(tf.getBackend() === "wasm")("a real one: a 4 GB tensor does not fit the wasm heap; the error is explained", async () => {
    let caught: unknown;
    try {
      const a = tf.ones([2 ** 30]);
      await a.data();
      a.dispose();
    } catch (e) {
      caught = e;
    }
    const msg = explainWasmMemoryError(caught);
    console.log(`[wasm-memory] ${(caught as Error)?.constructor?.name}: ${(caught as Error)?.message} → ${msg}`);
    expect(msg).toMatch(/the wasm backend ran out of memory/);
  }, 120_000);
});
