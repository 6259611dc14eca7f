import { describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

describe("nextscale --version", () => {
  it("prints this package's version and those of the packages it runs", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^nextscale \d+\.\d+\.\d+ \(@nextscale\/core \d+\.\d+\.\d+, @nextscale\/sampler \d+\.\d+\.\d+, @nextscale\/backends \d+\.\d+\.\d+, @tensorflow\/tfjs-core 4\.22\.0; Node \d+/);
    expect((await runCli(["help"])).out).toMatch(/--version/);
  });
});
