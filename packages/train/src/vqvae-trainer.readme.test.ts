/**
 * The README's stage-1 (VQ-VAE) example runs as written (against the
 * sources; the backend is the test's, so its initBackend line is left to the
 * test setup).
 */
import { expect, it } from "vitest";
import { runReadmeExample } from "./readme-example.testutil.js";

it("README: the stage-1 (VQ-VAE) training example", async () => {
  const lines = await runReadmeExample("Stage 1: the multi-scale VQ-VAE", ["fashion-mnist-slice"]);
  expect(lines.filter((l) => l.startsWith("step ")).length).toBe(4);
  expect(lines.at(-1)).toBe("4");
});
