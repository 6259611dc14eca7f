/**
 * `nextscale download` and names everywhere a checkpoint is taken, against a
 * local server on 127.0.0.1 imitating the hub (302 + X-Linked-Etag, Range)
 * and pytorch-fid's release, with the tiny fixtures under the official file
 * names and a temporary NEXTSCALE_CACHE. Nothing leaves 127.0.0.1.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage, encodePng } from "@nextscale/core";
import { type FileServer, referenceBundles, startFileServer } from "@nextscale/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const bundle = referenceBundles().find((b) => b.name === "var-tiny") ?? referenceBundles()[0];
const VAR = new Uint8Array(readFileSync(bundle.file("var.pth")));
const VAE = new Uint8Array(readFileSync(bundle.file("vae.pth")));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("nextscale download (local server)", () => {
  let server: FileServer;
  let cache: string;
  const saved: Record<string, string | undefined> = {};
  const ENV = ["NEXTSCALE_CACHE", "NEXTSCALE_HUB_URL", "NEXTSCALE_FID_WEIGHTS_URL", "HF_ENDPOINT", "NEXTSCALE_INCEPTION_WEIGHTS"];
  beforeAll(async () => {
    server = await startFileServer({
      "/hub/var_d16.pth": { body: VAR },
      "/hub/vae_ch160v4096z32.pth": { body: VAE },
      "/hub/var_d20.pth": { body: VAR, linkedEtag: "ab".repeat(32) }, // a wrong stated hash
      "/hub/var_d24.pth": { body: VAR, dropAfter: 700_000 }, // the connection drops once
      "/hub/var_d30.pth": { body: VAR, ranges: false }, // a server that ignores Range
      // var_d36.pth: 404
      "/gh/pt_inception-2015-12-05-6726825d.pth": { body: VAR, redirect: false, linkedEtag: null }, // not the file its name's hash prefix says
    });
    cache = mkdtempSync(join(tmpdir(), "nextscale-cache-"));
    for (const k of ENV) saved[k] = process.env[k];
    for (const k of ENV) delete process.env[k];
    process.env.NEXTSCALE_CACHE = cache;
    process.env.NEXTSCALE_HUB_URL = `${server.url}/hub`;
    process.env.NEXTSCALE_FID_WEIGHTS_URL = `${server.url}/gh`;
  });
  afterAll(async () => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await server.close();
    rmSync(cache, { recursive: true, force: true });
  });

  it("downloads var-d16 and vae with a progress bar, SHA-256 verified against the hub's X-Linked-Etag", async () => {
    const r = await runCli(["download", "var-d16", "vae"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`var-d16: ${join(cache, "var_d16.pth")} (2.6 MB; SHA-256 verified against the server's X-Linked-Etag)`);
    expect(r.out).toContain(`vae: ${join(cache, "vae_ch160v4096z32.pth")}`);
    expect(r.err).toMatch(/var_d16\.pth \[#+\] \d+\/\d+ 100% .* kB\/s/);
    expect(readFileSync(join(cache, "var_d16.pth")).equals(VAR)).toBe(true);
    expect(readFileSync(join(cache, "vae_ch160v4096z32.pth")).equals(VAE)).toBe(true);
    const again = await runCli(["download", "var-d16"]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/var-d16: already cached: .*var_d16\.pth \(--force downloads it again\)/);
  });

  it("--list shows names, files, sizes and what is cached; --json too", async () => {
    const r = await runCli(["download", "--list"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`var-d16 +var_d16\\.pth +2\\.6 MB +yes: ${join(cache, "var_d16.pth").replaceAll("/", "\\/")}`));
    expect(r.out).toMatch(/var-d36 +var_d36\.pth +~9\.44 GB +no/);
    expect(r.out).toMatch(/inception +pt_inception-2015-12-05-6726825d\.pth +~95\.5 MB +no/);
    expect(r.out).toContain(`cache: ${cache}`);
    const j = JSON.parse((await runCli(["download", "--list", "--json"])).out);
    expect(j.find((x: { name: string }) => x.name === "vae")).toMatchObject({ file: "vae_ch160v4096z32.pth", cached: true, bytes: VAE.byteLength });
    expect(j.find((x: { name: string }) => x.name === "var-d20")).toMatchObject({ cached: false, url: `${server.url}/hub/var_d20.pth` });
  });

  it("a wrong stated hash: refused, removed, exit 1 naming the file and both hashes", async () => {
    const r = await runCli(["download", "var-d20"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("var_d20.pth: SHA-256 mismatch");
    expect(r.err).toContain("ab".repeat(32));
    expect(r.err).toContain(sha(VAR));
    expect(existsSync(join(cache, "var_d20.pth"))).toBe(false);
    expect(existsSync(join(cache, "var_d20.pth.part"))).toBe(false);
    const inc = await runCli(["download", "inception"]);
    expect(inc.code).toBe(1);
    expect(inc.err).toMatch(/pt_inception-2015-12-05-6726825d\.pth: SHA-256 mismatch: the file name states the hash prefix 6726825d/);
    expect(inc.err).toContain(sha(VAR));
  });

  it("a dropped connection keeps the .part; the next run resumes with Range", async () => {
    const part = join(cache, "var_d24.pth.part");
    const r = await runCli(["download", "var-d24"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/interrupted after 700000 of \d+ bytes .*var_d24\.pth\.part is kept; run the same download again to resume/);
    expect(statSync(part).size).toBe(700_000);
    expect((await runCli(["download", "--list"])).out).toMatch(/var-d24 .* partial: 700 kB in .*var_d24\.pth\.part \(nextscale download var-d24 resumes\)/);
    const again = await runCli(["download", "var-d24"]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/var-d24: .*var_d24\.pth \(2\.6 MB, resumed at 700 kB; SHA-256 verified/);
    expect(server.requests.filter((q) => q.path === "/cdn/hub/var_d24.pth").map((q) => [q.range, q.status])).toEqual([
      [undefined, 200],
      ["bytes=700000-", 206],
    ]);
    expect(readFileSync(join(cache, "var_d24.pth")).equals(VAR)).toBe(true);
    expect(existsSync(part)).toBe(false);
  });

  it("a server that ignores Range: starts over", async () => {
    writeFileSync(join(cache, "var_d30.pth.part"), VAR.subarray(0, 1000));
    const r = await runCli(["download", "var-d30"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/resumed/);
    expect(server.requests.filter((q) => q.path === "/cdn/hub/var_d30.pth").at(-1)).toMatchObject({ range: "bytes=1000-", status: 200 });
    expect(readFileSync(join(cache, "var_d30.pth")).equals(VAR)).toBe(true);
  });

  it("a 404, an unknown name and bad flags are clear errors", async () => {
    const r = await runCli(["download", "var-d36"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`nextscale download: cannot download var_d36.pth from ${server.url}/hub/var_d36.pth: HTTP 404 Not Found\n`);
    const unknown = await runCli(["download", "var-d17"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown model "var-d17" \(known: var-d16, .*, inception, all\)/);
    expect((await runCli(["download"])).code).toBe(2);
    expect((await runCli(["download", "--list", "vae"])).code).toBe(2);
  });

  it("names resolve to the cache in generate, info and reconstruct; an uncached name gives the download command", async () => {
    if (!existsSync(join(cache, "var_d16.pth")) || !existsSync(join(cache, "vae_ch160v4096z32.pth"))) {
      expect((await runCli(["download", "var-d16", "vae"])).code).toBe(0); // when this test runs alone
    }
    const dir = mkdtempSync(join(tmpdir(), "ns-names-"));
    try {
      const out = join(dir, "g.png");
      const g = await runCli(["generate", "--vae", "vae", "--var", "var-d16", "--class", "1", "--seed", "3", "--out", out]);
      expect(g.code, g.err).toBe(0);
      const direct = join(dir, "direct.png");
      expect((await runCli(["generate", "--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth"), "--class", "1", "--seed", "3", "--out", direct])).code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(direct))).toBe(true); // the same models, so the same image
      const info = await runCli(["info", "var-d16", "--no-keys"]);
      expect(info.code, info.err).toBe(0);
      expect(JSON.parse(info.out)).toMatchObject({ file: join(cache, "var_d16.pth"), kind: "var" });
      const S: number = bundle.meta.config.reso;
      const img = join(dir, "in.png");
      writeFileSync(img, encodePng({ width: S, height: S, data: new Float32Array(S * S * 3).fill(0.5) }));
      const pns = (bundle.meta.config.patch_nums as number[]).join(",");
      const rec = await runCli(["reconstruct", "--vae", "vae", "--patch-nums", pns, "--image", img, "--out", join(dir, "rec.png")]);
      expect(rec.code, rec.err).toBe(0);
      expect(decodeImage(readFileSync(join(dir, "rec.png"))).width).toBe(S);

      const before = server.requests.length;
      const missing = await runCli(["generate", "--vae", "vae", "--var", "var-d36", "--class", "1", "--out", join(dir, "x.png")]);
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/^nextscale generate: var-d36 \(var_d36\.pth, about 9\.44 GB\) is not in the model cache .*: download it first with `nextscale download var-d36`/m);
      mkdirSync(join(dir, "imgs"));
      writeFileSync(join(dir, "imgs", "a.png"), encodePng({ width: 8, height: 8, data: new Float32Array(192) }));
      const fid = await runCli(["fid", join(dir, "imgs"), join(dir, "imgs"), "--inception-weights", "inception"]);
      expect(fid.code).toBe(1);
      expect(fid.err).toContain("`nextscale download inception`");
      const bench = await runCli(["bench", "--vae", "vae", "--var", "var-d20", "--json"]);
      expect(bench.code).toBe(1);
      expect(bench.err).toContain("`nextscale download var-d20`");
      expect(server.requests.length).toBe(before); // nothing downloads unless asked
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
