import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { main } from "./main.js";

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await main(args, (s) => {
    out += s;
  });
  return { code, out };
}

describe("nextscale info", () => {
  it("summarises var.pth as JSON", async () => {
    const { code, out } = await run(["info", join(FIXTURES, "var-tiny", "var.pth")]);
    expect(code).toBe(0);
    const j = JSON.parse(out);
    expect(j.kind).toBe("var");
    expect(j.format).toBe("pth");
    expect(j.dtype).toBe("float32");
    expect(j.tensors).toBe(Object.keys(j.keys).length);
    expect(j.keys["class_emb.weight"]).toEqual([11, 128]);
    // params exclude the non-learnable buffers lvl_1L, attn_bias_for_masking and zero_k_bias
    expect(j.params).toBeLessThan(j.elements);
  });

  it("summarises vae.pth and var.safetensors", async () => {
    const vae = JSON.parse((await run(["info", join(FIXTURES, "var-tiny", "vae.pth")])).out);
    expect(vae.kind).toBe("vae");
    const st = JSON.parse((await run(["info", join(FIXTURES, "var-tiny", "var.safetensors"), "--no-keys"])).out);
    expect(st.format).toBe("safetensors");
    expect(st.keys).toBeUndefined();
  });

  it("the built binary runs and fails clearly on a bad file", () => {
    const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url));
    const ok = spawnSync(process.execPath, [bin, "info", join(FIXTURES, "var-tiny", "var.pth"), "--no-keys"], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).kind).toBe("var");
    const bad = spawnSync(process.execPath, [bin, "info", join(FIXTURES, "README.md")], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unrecognised file format/);
  });
});
