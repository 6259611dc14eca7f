/**
 * What the README examples read, made small: the official file names point
 * at the tiny reference models, so every example runs in seconds.
 *
 * - `vae_ch160v4096z32.pth`, `vae.pth` (and `vae` in the cache): the
 *   reference bundles' VQ-VAE (test-fixtures/var-tiny/vae.pth: the official
 *   architecture at width 32, V = 64, Cvae = 8) with its codebook-usage
 *   buffer for the official 10 scales, so that, like the official file, it
 *   is taken for a 256 px, 10-scale VQ-VAE (`ema_vocab_hit_SV`: unused by
 *   the forward pass); `vae.safetensors` the same tensors as safetensors.
 * - `var_d16.pth` (and var-d16 … var-d36 in the cache): the reference VAR
 *   on the official 10-scale schedule (test-fixtures/inpaint-10scale/var.pth)
 *   with a 1000-class embedding drawn from a seed, so the examples' ImageNet
 *   classes (207, 980, golden_retriever) exist.
 * - `pt_inception-2015-12-05-6726825d.pth` (and `inception`): the FID
 *   bundle's hashed stand-in weights (the network's real size: 95 MB;
 *   scores meaningless).
 * - `VIRTUAL_imagenet256_labeled.npz`: a stand-in of OpenAI's reference
 *   batch (mu, sigma, mu_s, sigma_s of five random feature vectors, arr_0
 *   four images).
 * - `net.pth`: zero weights of core's README `Net`.
 * - images: `cat-256.png`, `dog.png`, `mask.png` (256×256), `dog512.png`,
 *   `photo.jpg` (a JPEG of another size, for `--resize`), and folders of
 *   32×32 images (`real/`, `samples/`, `samples-0/` … `samples-2/`).
 *
 * The model cache (`NEXTSCALE_CACHE`) holds every official name under its
 * published file name, so `nextscale download …` finds them cached and
 * never reaches a network.
 */
import { chmodSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodePng, type HostTensor, LayerNorm, Linear, Module, ModuleList, OFFICIAL_MODELS, openCheckpoint, Random, writeNpz, writeSafetensors } from "@nextscale/core";
import { FidInceptionV3, hashedInceptionWeights } from "@nextscale/eval";
import { FIXTURES } from "@nextscale/test-utils";
import jpeg from "jpeg-js";

/** Fixture files: symlinked into an example's folder when its code names them (read only). */
export const LARGE = [
  "vae_ch160v4096z32.pth",
  "vae.pth",
  "vae.safetensors",
  "var_d16.pth",
  "pt_inception-2015-12-05-6726825d.pth",
  "VIRTUAL_imagenet256_labeled.npz",
  "net.pth",
] as const;
/** Small fixtures (images, image folders): copied into every example's folder, which may write over them. */
export const SMALL = ["cat-256.png", "dog.png", "dog512.png", "photo.jpg", "mask.png", "real", "samples", "samples-0", "samples-1", "samples-2"] as const;

async function readAll(file: string): Promise<Map<string, HostTensor>> {
  const store = await openCheckpoint(file);
  const out = new Map<string, HostTensor>();
  try {
    for (const k of store.keys()) out.set(k, await store.read(k));
  } finally {
    await store.close();
  }
  return out;
}

function image(size: number, seed: number): Uint8Array {
  const data = new Float32Array(size * size * 3).map((_, i) => (Math.sin(i * 0.1 * seed + seed) + 1) / 2);
  return encodePng({ width: size, height: size, data });
}

function folder(dir: string, seeds: number[]) {
  mkdirSync(dir);
  for (const s of seeds) writeFileSync(join(dir, `${s}.png`), image(32, s));
}

/** Mean and unbiased covariance (float64) of n random d-vectors: the statistics of a stand-in reference set. */
function randomStatistics(d: number, n: number, rng: Random): { mu: HostTensor; sigma: HostTensor } {
  const x = Array.from({ length: n }, () => Float64Array.from({ length: d }, () => rng.normal(0, 1)));
  const mu = new Float64Array(d);
  for (const row of x) for (let i = 0; i < d; i++) mu[i] += row[i] / n;
  const sigma = new Float64Array(d * d);
  for (const row of x) {
    for (let i = 0; i < d; i++) {
      const a = (row[i] - mu[i]) / (n - 1);
      for (let j = 0; j < d; j++) sigma[i * d + j] += a * (row[j] - mu[j]);
    }
  }
  return { mu: { dtype: "float64", shape: [d], data: mu }, sigma: { dtype: "float64", shape: [d, d], data: sigma } };
}

/** core's README `Net` (section Modules), whose weights `net.pth` holds. */
class Block extends Module {
  fc1 = this.child("fc1", new Linear(1024, 4096));
  fc2 = this.child("fc2", new Linear(4096, 1024));
}
class Net extends Module {
  blocks = this.child("blocks", new ModuleList([new Block(), new Block()]));
  norm = this.child("norm", new LayerNorm(1024, 1e-6, false));
}

/** Write the fixtures into `dir` and the model cache into `cache`. */
export async function makeFixtures(dir: string, cache: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  mkdirSync(cache, { recursive: true });
  const tiny = join(FIXTURES, "var-tiny");
  const rng = new Random(2026);

  const vae = await readAll(join(tiny, "vae.pth"));
  const hits = vae.get("quantize.ema_vocab_hit_SV")!; // (scales, V): the official file has 10 rows
  vae.set("quantize.ema_vocab_hit_SV", { dtype: "float32", shape: [10, hits.shape[1]], data: new Float32Array(10 * hits.shape[1]) });
  const vaeBytes = writeSafetensors(vae);
  writeFileSync(join(dir, "vae.pth"), vaeBytes);
  symlinkSync(join(dir, "vae.pth"), join(dir, "vae_ch160v4096z32.pth"));
  writeFileSync(join(dir, "vae.safetensors"), vaeBytes);

  const varTensors = await readAll(join(FIXTURES, "inpaint-10scale", "var.pth"));
  const emb = varTensors.get("class_emb.weight")!;
  const C = emb.shape[1];
  const classes = new Float32Array(1001 * C);
  rng.fill(classes, (r) => r.normal(0, 0.02));
  varTensors.set("class_emb.weight", { dtype: "float32", shape: [1001, C], data: classes });
  writeFileSync(join(dir, "var_d16.pth"), writeSafetensors(varTensors));

  const inception = hashedInceptionWeights(Object.entries(new FidInceptionV3().stateDictShapes()));
  writeFileSync(join(dir, "pt_inception-2015-12-05-6726825d.pth"), writeSafetensors(inception));

  const pool = randomStatistics(2048, 5, rng);
  const spatial = randomStatistics(2023, 5, rng);
  const arr0 = new Uint8Array(4 * 32 * 32 * 3).map((_, i) => (i * 37) % 256);
  writeFileSync(
    join(dir, "VIRTUAL_imagenet256_labeled.npz"),
    writeNpz([
      ["arr_0", { dtype: "uint8", shape: [4, 32, 32, 3], data: arr0 }],
      ["mu", pool.mu],
      ["sigma", pool.sigma],
      ["mu_s", spatial.mu],
      ["sigma_s", spatial.sigma],
    ]),
  );

  const net = new Net();
  const zeros = Object.entries(net.stateDictShapes()).map(([k, shape]): [string, HostTensor] => [k, { dtype: "float32", shape: [...shape], data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]);
  writeFileSync(join(dir, "net.pth"), writeSafetensors(zeros));

  writeFileSync(join(dir, "cat-256.png"), image(256, 11));
  writeFileSync(join(dir, "dog.png"), image(256, 12));
  writeFileSync(join(dir, "dog512.png"), image(512, 13));
  const rgba = new Uint8Array(300 * 256 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256));
  writeFileSync(join(dir, "photo.jpg"), jpeg.encode({ data: rgba, width: 300, height: 256 }, 90).data);
  const mask = new Float32Array(300 * 256 * 3).map((_, i) => (Math.floor(i / 3) % 300 < 150 ? 1 : 0)); // photo.jpg's size: left half kept
  writeFileSync(join(dir, "mask.png"), encodePng({ width: 300, height: 256, data: mask }));
  folder(join(dir, "real"), [1, 2, 3, 7]);
  folder(join(dir, "samples"), [4, 5, 6, 8]);
  folder(join(dir, "samples-0"), [9, 10]);
  folder(join(dir, "samples-1"), [13, 14]);
  folder(join(dir, "samples-2"), [15, 16]);
  for (const f of readdirSync(dir)) if (f.includes(".")) chmodSync(join(dir, f), 0o444);

  // The cache: every official name, under its published file name.
  for (const m of Object.values(OFFICIAL_MODELS)) {
    const src = m.name === "vae" ? "vae.pth" : m.name === "inception" ? "pt_inception-2015-12-05-6726825d.pth" : "var_d16.pth";
    symlinkSync(join(dir, src), join(cache, m.file));
  }
}
