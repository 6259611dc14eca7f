/** The README's scaling-laws example runs as written and prints the recovered law. */
import { expect, it } from "vitest";
import { runReadmeExample } from "../readme-example.testutil.js";

it("README: the scaling-laws example", async () => {
  const lines = await runReadmeExample("Scaling laws", []);
  console.log(`[scaling] README example: ${lines.join(" | ")}`);
  expect(lines).toEqual(["-0.076 -1.000", "function"]);
});
