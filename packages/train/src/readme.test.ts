/**
 * The README's optimizer-and-data example runs as written (against the
 * sources: `@nextscale/train` resolved to src/index.ts; the backend is the
 * test's, so its initBackend line is left to the test setup).
 */
import { expect, it } from "vitest";
import { runReadmeExample } from "./readme-example.testutil.js";

it("README: the optimizer and data example", async () => {
  const lines = await runReadmeExample("Optimizer and data", ["fashion-mnist-slice"]);
  expect(lines[0]).toBe("D: weight; ND: bias");
  expect(lines.filter((l) => l.startsWith("epoch ")).length).toBe(8);
  expect(lines.at(-1)).toBe("weight,bias 8");
});
