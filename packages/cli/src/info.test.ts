import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES, referenceBundles } from "@nextscale/test-utils";
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

describe("nextscale info --preset and inferred configs", () => {
  const arch = JSON.parse(readFileSync(join(FIXTURES, "official-arch.json"), "utf8"));

  for (const name of ["d16", "d20", "d24", "d30", "d36"]) {
    it(`--preset ${name}: keys, shapes and parameter counts equal the official state dicts`, async () => {
      const { code, out } = await run(["info", "--preset", name]);
      expect(code).toBe(0);
      const j = JSON.parse(out);
      expect(j.var.keys).toEqual(arch[`var_${name}`].keys);
      expect(j.var.params).toBe(arch[`var_${name}`].params);
      expect(j.vae.keys).toEqual(arch.vae_ch160v4096z32.keys);
      expect(j.vae.params).toBe(arch.vae_ch160v4096z32.params);
      expect(j.var.config.patchNums).toEqual(arch[`var_${name}`].patch_nums);
    });
  }

  it("an unknown preset is a clear error", async () => {
    let err = "";
    const code = await main(["info", "--preset", "d99"], () => {}, (s) => {
      err += s;
    });
    expect(code).toBe(2);
    expect(err).toMatch(/unknown preset "d99" \(known: d16, d20, d24, d30, d36\)/);
  });

  for (const b of referenceBundles()) {
    it(`${b.name}: info on the checkpoints includes the inferred configuration`, async () => {
      const v = JSON.parse((await run(["info", b.file("var.pth"), "--no-keys"])).out);
      expect(v.config.depth).toBe(b.meta.var.depth);
      expect(v.config.embedDim).toBe(b.meta.var.embed_dim);
      expect(v.config.patchNums).toEqual(b.meta.var.patch_nums);
      expect(v.config.sharedAln).toBe(b.meta.var.shared_aln);
      const q = JSON.parse((await run(["info", b.file("vae.pth"), "--no-keys"])).out);
      const K = b.meta.var.patch_nums.length;
      if (K === 10) {
        expect(q.config.vocabSize).toBe(b.meta.vqvae.vocab_size);
        expect(q.config.zChannels).toBe(b.meta.vqvae.z_channels);
      } else {
        // A VQ-VAE's shapes tell the number of scales but not their sides: info says so instead of guessing.
        expect(q.config_error).toMatch(new RegExp(`trained with ${K} scales`));
      }
    });
  }
});
