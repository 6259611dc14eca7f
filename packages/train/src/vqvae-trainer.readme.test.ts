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

it("README: the stage-1 example with the VQGAN discriminator", async () => {
  const lines = await runReadmeExample("Stage 1 with the VQGAN discriminator", ["fashion-mnist-slice"]);
  expect(lines.length).toBe(3);
  expect(lines[0]).toMatch(/^step 1: mse [\d.]+$/); // before gan.start
  for (const l of lines.slice(1)) expect(l).toMatch(/^step \d: mse [\d.]+ \| g -?[\d.]+ λ [\d.]+ d [\d.]+$/);
}, 300_000);
