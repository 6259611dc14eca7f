import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const run = runCli;

describe("nextscale info --backends", () => {
  it("prints {name, available, reason, built} for cuda, webgpu, native, wasm and cpu", async () => {
    const { code, out } = await run(["info", "--backends"]);
    expect(code).toBe(0);
    const list = JSON.parse(out) as { name: string; available: boolean; reason: string; built: boolean }[];
    console.log(out);
    expect(list.map((b) => b.name)).toEqual(["cuda", "webgpu", "native", "wasm", "cpu"]);
    for (const b of list) {
      expect(Object.keys(b).sort()).toEqual(["available", "built", "name", "reason"]);
      expect(typeof b.available).toBe("boolean");
      expect(typeof b.built).toBe("boolean");
      expect(b.reason.length).toBeGreaterThan(0);
      if (!b.available) expect(b.reason.startsWith(`${b.name}: `)).toBe(true);
    }
    expect(list.find((b) => b.name === "cpu")!.available).toBe(true);
    // the cuda device has no tfjs backend yet: never available, built where nvcc was found at install
    expect(list.find((b) => b.name === "cuda")).toMatchObject({ available: false });
  });

  it("--backends with a file is a usage error", async () => {
    const { code, err } = await run(["info", "--backends", "x.pth"]);
    expect(code).toBe(2);
    expect(err).toMatch(/--backends takes no file/);
  });

  it("the built binary prints the list and exits", () => {
    const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
    const r = spawnSync(process.execPath, [bin, "info", "--backends"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).map((b: { name: string }) => b.name)).toEqual(["cuda", "webgpu", "native", "wasm", "cpu"]);
  });
});
