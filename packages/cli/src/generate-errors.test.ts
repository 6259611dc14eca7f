/**
 * `nextscale generate` with bad input, as a first run meets it: each case's
 * message names the cause (and the flag), the exit status is 1 or 2, the
 * check comes before the backend starts or anything loads (no "backend:" or
 * "loading" line), and no output file is left, not even a temporary one.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceBundles } from "@nextscale/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const bundle = referenceBundles()[0];
const VAE = bundle.file("vae.pth");
const VAR = bundle.file("var.pth");

/** Every file under `dir`, relative, sorted (folders end in /). */
function listing(dir: string, sub = ""): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? [`${sub}${e.name}/`, ...listing(dir, `${sub}${e.name}/`)] : [`${sub}${e.name}`]))
    .sort();
}

describe("nextscale generate: bad input is named, early, and leaves no file", () => {
  let dir: string;
  let before: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ns-gen-err-"));
    writeFileSync(join(dir, "a-file"), "not a folder");
    mkdirSync(join(dir, "a-folder"));
    before = listing(dir);
  });
  afterEach(() => {
    // nothing written: no image, no temporary file, no folder
    expect(listing(dir)).toEqual(before);
    expect(readFileSync(join(dir, "a-file"), "utf8")).toBe("not a folder");
  });

  /** Run, and check the status and that nothing loaded before the error. */
  async function fails(args: string[], code: 1 | 2, message: RegExp | string) {
    const r = await runCli(["generate", ...args]);
    expect(r.code, r.err).toBe(code);
    if (typeof message === "string") expect(r.err).toContain(message);
    else expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/^(backend:|loading |generate \[)/m);
    expect(r.err.trim().split("\n")).toHaveLength(1); // one line
    expect(r.out).toBe("");
    return r;
  }

  it("--out into a folder that does not exist: names the folder", async () => {
    const out = join(dir, "missing", "grid.png");
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out", out], 1, `the folder ${join(dir, "missing")} does not exist`);
  });

  it("--out x.jpg (and other formats): refused, naming PNG and the file name to use", async () => {
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out", join(dir, "x.jpg")], 1, /does not write JPEG; it writes PNG: name the file .*x\.png/);
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out", join(dir, "x.webp")], 1, /does not write "\.webp"/);
  });

  it("--out that is a folder, --out-dir that is a file", async () => {
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out", join(dir, "a-folder")], 1, /does not write a file without an extension|is a folder/);
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out-dir", join(dir, "a-file")], 1, `--out-dir ${join(dir, "a-file")} is a file, not a folder`);
  });

  it("a missing --vae or --var file: named with its flag, before the backend line", async () => {
    const nope = join(dir, "nope.pth");
    await fails(["--vae", nope, "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, `--vae ${nope}: no such file`);
    await fails(["--vae", VAE, "--var", nope, "--class", "1", "--out-dir", join(dir, "imgs")], 1, `--var ${nope}: no such file`);
    await fails(["--vae", VAE, "--var", "var-d17", "--class", "1", "--out", join(dir, "g.png")], 1, /--var var-d17: no such file, nor the name of an official model \(var-d16, /);
    await fails(["--vae", join(dir, "a-folder"), "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, /--vae .*a-folder is a folder; pass a checkpoint file/);
  });

  it("an official name that is not downloaded: names `nextscale download`", async () => {
    const prev = process.env.NEXTSCALE_CACHE;
    process.env.NEXTSCALE_CACHE = join(dir, "a-folder"); // an empty cache
    try {
      await fails(["--vae", "vae", "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, /vae \(vae_ch160v4096z32\.pth, about .*\) is not in the model cache .*`nextscale download vae`/);
    } finally {
      if (prev === undefined) delete process.env.NEXTSCALE_CACHE;
      else process.env.NEXTSCALE_CACHE = prev;
    }
  });

  it("swapped --vae/--var: the file and what it looks like, and the flag to pass it as", async () => {
    await fails(
      ["--vae", VAR, "--var", VAE, "--class", "1", "--out", join(dir, "g.png")],
      1,
      `--vae and --var are swapped: ${VAR} looks like a VAR checkpoint (it has class_emb.weight, blocks.*) and ${VAE} looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*): pass --vae ${VAE} --var ${VAR}`,
    );
    await fails(["--vae", VAR, "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, `--vae ${VAR} looks like a VAR checkpoint (it has class_emb.weight, blocks.*): pass it as --var`);
    await fails(["--vae", VAE, "--var", VAE, "--class", "1", "--out-dir", join(dir, "imgs")], 1, `--var ${VAE} looks like a VQ-VAE checkpoint (it has quantize.embedding.weight, encoder.*): pass it as --vae`);
  });

  it("a file of neither model, and a corrupt checkpoint: named", async () => {
    const io = bundle.file("io.safetensors");
    await fails(["--vae", VAE, "--var", io, "--class", "1", "--out", join(dir, "g.png")], 1, /--var .*io\.safetensors is not a VAR checkpoint \(a VAR has class_emb\.weight and blocks\.\*; this file has \d+ tensors/);
    await fails(["--vae", io, "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, /--vae .*io\.safetensors is not a VQ-VAE checkpoint/);
    const cut = join(tmpdir(), `ns-cut-${process.pid}.pth`);
    writeFileSync(cut, readFileSync(VAR).subarray(0, 1000));
    await fails(["--vae", VAE, "--var", cut, "--class", "1", "--out", join(dir, "g.png")], 1, /ns-cut-\d+\.pth/);
  });

  it("classes: unknown numbers, names on a 10-class model, before anything loads (exit 2)", async () => {
    await fails(["--vae", VAE, "--var", VAR, "--class", "10", "--out", join(dir, "g.png")], 2, 'unknown class "10": this model has classes 0…9');
    await fails(["--vae", VAE, "--var", VAR, "--class", "tabby", "--out-dir", join(dir, "imgs")], 2, /class names are ImageNet's, for the 1000-class models; this model has 10 classes/);
  });

  it("flags that do not go together, bad numbers (exit 2)", async () => {
    await fails(["--vae", VAE, "--var", VAR, "--labels", "--out-dir", join(dir, "imgs")], 2, "--labels draws the classes into the grid");
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--out", join(dir, "g.png"), "--out-dir", join(dir, "imgs")], 2, "pass exactly one of --out");
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--start", "5", "--out-dir", join(dir, "imgs")], 2, "--start 5 is past the run's last image");
    await fails(["--vae", VAE, "--var", VAR, "--class", "1", "--cfg", "-1", "--out", join(dir, "g.png")], 2, "--cfg must be a non-negative number");
  });

  it("a name resolved from the cache is shown with its file", async () => {
    const prev = process.env.NEXTSCALE_CACHE;
    const cache = mkdtempSync(join(tmpdir(), "ns-cache-"));
    copyFileSync(VAR, join(cache, "vae_ch160v4096z32.pth")); // the wrong file under the VQ-VAE's name
    process.env.NEXTSCALE_CACHE = cache;
    try {
      await fails(["--vae", "vae", "--var", VAR, "--class", "1", "--out", join(dir, "g.png")], 1, `--vae vae (${join(cache, "vae_ch160v4096z32.pth")}) looks like a VAR checkpoint`);
    } finally {
      if (prev === undefined) delete process.env.NEXTSCALE_CACHE;
      else process.env.NEXTSCALE_CACHE = prev;
    }
  });
});

describe("nextscale generate: a good run leaves only its files", () => {
  it("--out: the grid and nothing else (no temporary file); --out-dir: the images", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ns-gen-ok-"));
    const r = await runCli(["generate", "--vae", VAE, "--var", VAR, "--class", "1,2", "--out", join(dir, "g.png")]);
    expect(r.code, r.err).toBe(0);
    expect(listing(dir)).toEqual(["g.png"]);
    const d = await runCli(["generate", "--vae", VAE, "--var", VAR, "--class", "1", "--n-per-class", "2", "--out-dir", join(dir, "new", "imgs")]);
    expect(d.code, d.err).toBe(0);
    expect(listing(dir)).toEqual(["g.png", "new/", "new/imgs/", "new/imgs/1_0.png", "new/imgs/1_1.png"]);
  });
});
