/**
 * The README's stage-2 example runs as written (against the sources; the
 * backend is the test's, so its initBackend line is left to the test setup).
 */
import { expect, it } from "vitest";
import { runReadmeExample } from "./readme-example.testutil.js";

it("README: the stage-2 (VAR) training example", async () => {
  const lines = await runReadmeExample("Stage 2: the VAR", ["var-tiny/vae.pth", "fashion-mnist-slice"]);
  expect(lines[0]).toBe("8 false");
  expect(lines.filter((l) => l.startsWith("step ")).length).toBe(8);
  expect(lines.at(-2)).toBe("true 8");
  expect(lines.at(-1)).toBe("8 4");
}, 600_000); // SwiftShader (webgpu in CI) takes ~10 s per VQ-VAE image
