/**
 * The registry, the cache and the downloader against a local server
 * imitating the hub (302 to a CDN path, X-Linked-Etag/X-Linked-Size on the
 * 302, Range/206): full download, resume after a dropped connection, a server
 * that ignores Range, a wrong stated hash, a 404, no stated hash, a file
 * name's hash prefix. Nothing leaves 127.0.0.1.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, type FileServer, startFileServer } from "@nextscale/test-utils";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openCheckpoint } from "../io/checkpoint.js";
import {
  cachedModelPath,
  type DownloadModelOptions,
  type DownloadProgress,
  downloadFile,
  downloadModel,
  LOCK_SETTLE_MS,
  modelCacheDir,
  modelCacheStatus,
  resolveModel,
} from "./cache.node.js";
import {
  fileNameHashPrefix,
  ModelDownloadError,
  ModelNotCachedError,
  OFFICIAL_MODELS,
  officialModel,
  officialModelUrl,
} from "./registry.js";

const VAR = new Uint8Array(readFileSync(join(FIXTURES, "var-tiny", "var.pth")));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** downloadModel, expecting a download (not a file already cached). */
async function fetched(name: string, opts: DownloadModelOptions) {
  const r = await downloadModel(name, opts);
  if (r.alreadyCached) throw new Error(`${name}: expected a download, found ${r.path} cached`);
  return r;
}

describe("registry", () => {
  it("names the official files and their URLs", () => {
    expect(Object.keys(OFFICIAL_MODELS)).toEqual(["var-d16", "var-d20", "var-d24", "var-d30", "var-d36", "vae", "inception"]);
    expect(OFFICIAL_MODELS["var-d16"].url).toBe("https://huggingface.co/FoundationVision/var/resolve/main/var_d16.pth");
    expect(OFFICIAL_MODELS["var-d36"].url).toBe("https://huggingface.co/FoundationVision/var/resolve/main/var_d36.pth");
    expect(OFFICIAL_MODELS.vae.url).toBe("https://huggingface.co/FoundationVision/var/resolve/main/vae_ch160v4096z32.pth");
    expect(OFFICIAL_MODELS.inception.url).toBe(
      "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    );
    expect(officialModel("var_d16.pth")?.name).toBe("var-d16");
    expect(officialModel("./var_d16.pth")).toBeUndefined();
    expect(officialModel("toString")).toBeUndefined();
    expect(fileNameHashPrefix("pt_inception-2015-12-05-6726825d.pth")).toBe("6726825d");
    expect(fileNameHashPrefix("var_d16.pth")).toBeUndefined();
    expect(fileNameHashPrefix("vae_ch160v4096z32.pth")).toBeUndefined();
  });

  it("base URLs are overridable (options, then NEXTSCALE_HUB_URL / HF_ENDPOINT / NEXTSCALE_FID_WEIGHTS_URL)", () => {
    const saved = { ...process.env };
    try {
      for (const k of ["NEXTSCALE_HUB_URL", "HF_ENDPOINT", "NEXTSCALE_FID_WEIGHTS_URL"]) delete process.env[k];
      expect(officialModelUrl(OFFICIAL_MODELS.vae, { hubUrl: "http://127.0.0.1:1/x/" })).toBe("http://127.0.0.1:1/x/vae_ch160v4096z32.pth");
      process.env.HF_ENDPOINT = "https://hf-mirror.example";
      expect(officialModelUrl(OFFICIAL_MODELS["var-d20"])).toBe("https://hf-mirror.example/FoundationVision/var/resolve/main/var_d20.pth");
      process.env.NEXTSCALE_HUB_URL = "http://127.0.0.1:2/hub";
      expect(officialModelUrl(OFFICIAL_MODELS["var-d20"])).toBe("http://127.0.0.1:2/hub/var_d20.pth");
      expect(officialModelUrl(OFFICIAL_MODELS.inception)).toBe(OFFICIAL_MODELS.inception.url);
      process.env.NEXTSCALE_FID_WEIGHTS_URL = "http://127.0.0.1:3/gh";
      expect(officialModelUrl(OFFICIAL_MODELS.inception)).toBe("http://127.0.0.1:3/gh/pt_inception-2015-12-05-6726825d.pth");
      process.env.NEXTSCALE_CACHE = "/tmp/some-cache";
      expect(modelCacheDir()).toBe("/tmp/some-cache");
      delete process.env.NEXTSCALE_CACHE;
      process.env.XDG_CACHE_HOME = "/tmp/xdg";
      expect(modelCacheDir()).toBe("/tmp/xdg/nextscale");
    } finally {
      process.env = saved;
    }
  });
});

describe("downloads (local server on 127.0.0.1)", () => {
  let server: FileServer;
  let cacheDir: string;
  let hubUrl: string;
  beforeAll(async () => {
    server = await startFileServer();
    hubUrl = `${server.url}/hub`;
  });
  afterAll(() => server.close());
  beforeEach(() => {
    cacheDir = mkdtempSync(join(tmpdir(), "nextscale-cache-"));
    server.routes.clear();
    server.requests.length = 0;
    return () => rmSync(cacheDir, { recursive: true, force: true });
  });

  it("downloads through the hub's redirect with progress, and verifies the X-Linked-Etag SHA-256", async () => {
    server.routes.set("/hub/var_d16.pth", { body: VAR });
    const progress: DownloadProgress[] = [];
    const r = await fetched("var-d16", { cacheDir, hubUrl, onProgress: (p) => progress.push(p) });
    expect(r.alreadyCached).toBe(false);
    expect(r.path).toBe(join(cacheDir, "var_d16.pth"));
    expect(r.bytes).toBe(VAR.byteLength);
    expect(r.sha256).toBe(sha(VAR));
    expect(r.check).toEqual({ kind: "sha256", against: ["the server's X-Linked-Etag"] });
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
    expect(existsSync(`${r.path}.part`)).toBe(false);
    expect(server.requests.map((q) => [q.path, q.status])).toEqual([
      ["/hub/var_d16.pth", 302],
      ["/cdn/hub/var_d16.pth", 200],
    ]);
    expect(progress.at(0)).toMatchObject({ file: "var_d16.pth", loaded: 0, total: VAR.byteLength, resumedFrom: 0 });
    expect(progress.at(-1)).toMatchObject({ loaded: VAR.byteLength, total: VAR.byteLength });
    for (let i = 1; i < progress.length; i++) expect(progress[i].loaded).toBeGreaterThanOrEqual(progress[i - 1].loaded);
    // the file is a checkpoint, and the cache now answers by name
    expect(cachedModelPath("var-d16", { cacheDir })).toBe(r.path);
    expect(await resolveModel("var-d16", { cacheDir })).toBe(r.path);
    expect(await resolveModel("var_d16.pth", { cacheDir })).toBe(r.path);
    const store = await openCheckpoint(r.path);
    expect(store.keys().length).toBeGreaterThan(0);
    await store.close();
    // cached: nothing is downloaded again, unless forced
    const again = await downloadModel("var-d16", { cacheDir, hubUrl });
    expect(again.alreadyCached).toBe(true);
    expect(server.requests).toHaveLength(2);
    const forced = await downloadModel("var-d16", { cacheDir, hubUrl, force: true });
    expect(forced.alreadyCached).toBe(false);
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
  });

  it("resumes after a dropped connection: the .part stays, the next run sends Range and completes", async () => {
    const cut = 1_000_000;
    server.routes.set("/hub/var_d16.pth", { body: VAR, dropAfter: cut });
    const part = join(cacheDir, "var_d16.pth.part");
    const e = await downloadModel("var-d16", { cacheDir, hubUrl }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    expect((e as Error).message).toMatch(new RegExp(`var_d16\\.pth .*interrupted after ${cut} of ${VAR.byteLength} bytes.*is kept; run the same download again to resume`));
    expect(statSync(part).size).toBe(cut);
    expect(existsSync(join(cacheDir, "var_d16.pth"))).toBe(false);
    expect(modelCacheStatus({ cacheDir }).find((c) => c.model.name === "var-d16")).toMatchObject({ bytes: undefined, partialBytes: cut });
    const progress: DownloadProgress[] = [];
    const r = await fetched("var-d16", { cacheDir, hubUrl, onProgress: (p) => progress.push(p) });
    expect(r.resumedFrom).toBe(cut);
    expect(r.check.kind).toBe("sha256");
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
    expect(existsSync(part)).toBe(false);
    const resumed = server.requests.slice(2);
    expect(resumed.map((q) => [q.path, q.range, q.status])).toEqual([
      ["/hub/var_d16.pth", `bytes=${cut}-`, 302],
      ["/cdn/hub/var_d16.pth", `bytes=${cut}-`, 206],
    ]);
    expect(progress[0]).toMatchObject({ loaded: cut, resumedFrom: cut });
  });

  it("one download of a file at a time: a second while the first runs is refused by name; a stale lock is taken over", async () => {
    server.routes.set("/hub/var_d16.pth", { body: VAR });
    const [a, b] = await Promise.allSettled([downloadModel("var-d16", { cacheDir, hubUrl }), downloadModel("var-d16", { cacheDir, hubUrl })]);
    const done = [a, b].filter((r) => r.status === "fulfilled");
    const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(done).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toBeInstanceOf(ModelDownloadError);
    expect(refused[0].reason.message).toMatch(new RegExp(`another download of var_d16\\.pth is in progress \\(process ${process.pid}, lock .*var_d16\\.pth\\.lock\\)`));
    const path = join(cacheDir, "var_d16.pth");
    expect(readFileSync(path).equals(VAR)).toBe(true);
    expect(existsSync(`${path}.lock`)).toBe(false);
    // a lock left by a process that is gone (killed mid-download) does not block the next download
    writeFileSync(join(cacheDir, "var_d16.pth.lock"), "2147483646\n");
    const r = await downloadModel("var-d16", { cacheDir, hubUrl, force: true });
    expect(r.alreadyCached).toBe(false);
    expect(readFileSync(path).equals(VAR)).toBe(true);
    expect(existsSync(`${path}.lock`)).toBe(false);
    // a lock without an id: being created (a file system without hard links writes the id after creating it)
    // while young, refused; a leftover once older than LOCK_SETTLE_MS, taken over
    const lock = `${path}.lock`;
    writeFileSync(lock, "");
    await expect(downloadModel("var-d16", { cacheDir, hubUrl, force: true })).rejects.toThrow(/another download of var_d16\.pth is starting \(lock .*var_d16\.pth\.lock, created \d+ ms ago\)/);
    expect(existsSync(lock)).toBe(true); // not taken from its maker
    const old = new Date(Date.now() - LOCK_SETTLE_MS - 1000);
    utimesSync(lock, old, old);
    const o = await downloadModel("var-d16", { cacheDir, hubUrl, force: true });
    expect(o.alreadyCached).toBe(false);
    expect(existsSync(lock)).toBe(false);
  });

  it("starts over when the server ignores Range (200)", async () => {
    server.routes.set("/hub/var_d16.pth", { body: VAR, ranges: false });
    const part = join(cacheDir, "var_d16.pth.part");
    writeFileSync(part, new Uint8Array(4096).fill(7)); // a part that does not even belong to the file
    const r = await fetched("var-d16", { cacheDir, hubUrl });
    expect(r.resumedFrom).toBe(0);
    expect(server.requests.at(-1)).toMatchObject({ range: "bytes=4096-", status: 200 });
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
  });

  it("checks a complete .part when the server answers 416, and starts over when the part is longer than the file", async () => {
    server.routes.set("/hub/var_d16.pth", { body: VAR });
    const part = join(cacheDir, "var_d16.pth.part");
    writeFileSync(part, VAR);
    const r = await fetched("var-d16", { cacheDir, hubUrl });
    expect(r.resumedFrom).toBe(VAR.byteLength);
    expect(r.check.kind).toBe("sha256");
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
    const other = mkdtempSync(join(tmpdir(), "nextscale-cache-"));
    try {
      writeFileSync(join(other, "var_d16.pth.part"), new Uint8Array(VAR.byteLength + 10));
      const again = await fetched("var-d16", { cacheDir: other, hubUrl });
      expect(again.resumedFrom).toBe(0);
      expect(readFileSync(again.path).equals(VAR)).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("refuses a file whose SHA-256 differs from the stated one, and removes it", async () => {
    const wrong = "0".repeat(64);
    server.routes.set("/hub/var_d16.pth", { body: VAR, linkedEtag: wrong });
    const e = await downloadModel("var-d16", { cacheDir, hubUrl }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    const msg = (e as Error).message;
    expect(msg).toMatch(/^var_d16\.pth: SHA-256 mismatch/);
    expect(msg).toContain(wrong);
    expect(msg).toContain(sha(VAR));
    expect(existsSync(join(cacheDir, "var_d16.pth"))).toBe(false);
    expect(existsSync(join(cacheDir, "var_d16.pth.part"))).toBe(false);
  });

  it("a 404 is a clear error; nothing is left in the cache", async () => {
    const e = await downloadModel("vae", { cacheDir, hubUrl }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    expect((e as Error).message).toBe(`cannot download vae_ch160v4096z32.pth from ${hubUrl}/vae_ch160v4096z32.pth: HTTP 404 Not Found`);
    expect(existsSync(join(cacheDir, "vae_ch160v4096z32.pth.part"))).toBe(false);
    const closed = await startFileServer();
    await closed.close(); // a port nobody listens on
    const refused = await downloadModel("vae", { cacheDir, hubUrl: closed.url }).catch((x: unknown) => x);
    expect((refused as Error).message).toMatch(/^cannot download vae_ch160v4096z32\.pth from http:\/\/127\.0\.0\.1:\d+\/.*ECONNREFUSED/);
  });

  it("a server that states no hash: downloaded, and the result says no integrity check was possible", async () => {
    server.routes.set("/plain/var_d16.pth", { body: VAR, redirect: false, linkedEtag: null });
    const r = await fetched("var-d16", { cacheDir, hubUrl: `${server.url}/plain` });
    expect(r.check).toEqual({ kind: "none", against: [] });
    expect(readFileSync(r.path).equals(VAR)).toBe(true);
  });

  it("checks a file name's hash prefix (torch hub's convention)", async () => {
    const prefix = sha(VAR).slice(0, 8);
    server.routes.set("/gh/w.pth", { body: VAR, redirect: false, linkedEtag: null });
    const good = await downloadFile(`${server.url}/gh/w.pth`, join(cacheDir, `w-${prefix}.pth`), { sha256Prefix: prefix });
    expect(good.check).toEqual({ kind: "prefix", against: [`the hash prefix ${prefix} in the file name`] });
    // the registry's inception file: its name's prefix 6726825d does not match this body
    server.routes.set("/gh/pt_inception-2015-12-05-6726825d.pth", { body: VAR, redirect: false, linkedEtag: null });
    const e = await downloadModel("inception", { cacheDir, fidWeightsUrl: `${server.url}/gh` }).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/^pt_inception-2015-12-05-6726825d\.pth: SHA-256 mismatch: the file name states the hash prefix 6726825d/);
    expect((e as Error).message).toContain(sha(VAR));
    expect(existsSync(join(cacheDir, "pt_inception-2015-12-05-6726825d.pth"))).toBe(false);
    expect(existsSync(join(cacheDir, "pt_inception-2015-12-05-6726825d.pth.part"))).toBe(false);
  });

  it("resolveModel: paths and URLs unchanged, an existing file wins over a name, an uncached name says how to download it", async () => {
    expect(await resolveModel("some/dir/var_d16.pth", { cacheDir })).toBe("some/dir/var_d16.pth");
    expect(await resolveModel("https://example.org/var_d16.pth", { cacheDir })).toBe("https://example.org/var_d16.pth");
    const e = await resolveModel("var-d16", { cacheDir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelNotCachedError);
    expect((e as Error).message).toContain("`nextscale download var-d16`");
    expect((e as Error).message).toContain(cacheDir);
    expect(server.requests).toHaveLength(0); // nothing downloads unless asked
    const cwd = process.cwd();
    const here = mkdtempSync(join(tmpdir(), "nextscale-cwd-"));
    try {
      process.chdir(here);
      writeFileSync("vae", "a local file named like a model");
      expect(await resolveModel("vae", { cacheDir })).toBe("vae");
    } finally {
      process.chdir(cwd);
      rmSync(here, { recursive: true, force: true });
    }
    server.routes.set("/hub/var_d16.pth", { body: VAR });
    const path = await resolveModel("var-d16", { cacheDir, hubUrl, download: true });
    expect(path).toBe(join(cacheDir, "var_d16.pth"));
    expect(readFileSync(path).equals(VAR)).toBe(true);
  });
});
