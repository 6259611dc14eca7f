/**
 * The README's checkpoint example runs as written (against the sources:
 * `@nextscale/train` resolved to src/index.ts, the fixture path to
 * test-fixtures; the backend is the test's, so its initBackend line is left
 * to the test setup).
 */
import { expect, it } from "vitest";
import { runReadmeExample } from "../readme-example.testutil.js";

it("README: the checkpoint example (official ar-ckpt in, ours saved / found / loaded, a .pth out)", async () => {
  const lines = await runReadmeExample("Checkpoints", ["train-interop/ar-ckpt-last.pth"]);
  expect(lines).toEqual(["1 2 34", "1 true", "wrote true"]);
});
