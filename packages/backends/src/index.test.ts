import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { BackendUnavailableError, backendFromEnv, initBackend, listBackends } from "./index.js";

describe("backends", () => {
  it("lists every backend with availability and a reason", async () => {
    const list = await listBackends();
    expect(list.map((b) => b.name)).toEqual(["cuda", "webgpu", "wasm", "cpu"]);
    for (const b of list) expect(b.reason.length).toBeGreaterThan(0);
    expect(list.find((b) => b.name === "cpu")!.available).toBe(true);
  });

  it("initialises the backend named by NEXTSCALE_BACKEND and computes", async () => {
    const name = await initBackend(backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
    console.log(`backend: ${name}`);
    expect(tf.getBackend()).toBe(name);
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).data())).toEqual([11]);
  });

  it("an unknown or unavailable backend is a clear error", async () => {
    await expect(initBackend("tpu" as never)).rejects.toThrow(/unknown backend "tpu"/);
    await expect(initBackend("cuda")).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(initBackend("cuda")).rejects.toThrow(/cuda: /);
  });
});
