/**
 * Dataset readers, the official train transform and the prefetching loader
 * (fixtures: test-fixtures/fashion-mnist-slice and test-fixtures/image-folder,
 * made by tools/fixtures/make_train_data.py; the transform references with
 * Pillow 9.4 step by step as torchvision does it).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openCheckpoint, Random, toFloat32 } from "@nextscale/core";
import { compare, FIXTURES } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { FASHION_MNIST_CLASSES, IdxDataset, type ImageDataset, ImageFolderDataset } from "./datasets.js";
import { DatasetError } from "./errors.js";
import { memoryFileTree } from "./file-tree.js";
import { gunzipIfNeeded, parseIdx, readIdx } from "./idx.js";
import { DataLoader } from "./loader.js";
import { centerTransform, cropToPm1, flipHorizontal, resizeShorterSide, trainTransform } from "./transform.js";

const FM = join(FIXTURES, "fashion-mnist-slice");
const FOLDER = join(FIXTURES, "image-folder");
const fmMeta = JSON.parse(readFileSync(join(FM, "meta.json"), "utf8"));
const folderMeta = JSON.parse(readFileSync(join(FOLDER, "meta.json"), "utf8"));
const openFm = () => IdxDataset.open(join(FM, "images-idx3-ubyte.gz"), join(FM, "labels-idx1-ubyte"), { classNames: FASHION_MNIST_CLASSES });

const idx = (type: number, dims: number[], body: number[]) => {
  const h = [0, 0, type, dims.length];
  for (const d of dims) h.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return new Uint8Array([...h, ...body]);
};

describe("IDX files", () => {
  it("the Fashion-MNIST slice (gzip images, raw labels): labels, pixels, gray replicated to RGB", async () => {
    const ds = await openFm();
    expect([ds.length, ds.height, ds.width, ds.numClasses]).toEqual([64, 28, 28, 10]);
    expect(Array.from(ds.labels)).toEqual(fmMeta.labels);
    for (let i = 0; i < ds.length; i++) {
      const img = await ds.image(i);
      let sum = 0;
      for (let p = 0; p < 28 * 28; p++) {
        sum += img.data[3 * p];
        if (img.data[3 * p] !== img.data[3 * p + 1] || img.data[3 * p] !== img.data[3 * p + 2]) throw new Error("not gray");
      }
      expect(sum).toBe(fmMeta.pixel_sums[i]);
    }
    const row = Array.from({ length: 28 }, (_, x) => x);
    const first = await ds.image(0);
    expect(row.map((x) => first.data[(14 * 28 + x) * 3])).toEqual(fmMeta.first_image_row_14);
    expect(ds.classNames![ds.label(0)]).toBe(FASHION_MNIST_CLASSES[fmMeta.labels[0]]);
  });

  it("typed IDX arrays, big-endian", () => {
    const a = parseIdx(idx(0x0c, [2], [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]));
    expect([a.type, Array.from(a.data)]).toEqual(["int32", [258, -2]]);
    const f = parseIdx(idx(0x0d, [1], [0x3f, 0xc0, 0, 0]));
    expect(Array.from(f.data)).toEqual([1.5]);
  });

  it("clear errors: wrong magic, truncated header or data, trailing bytes, bad gzip, mismatched counts, missing files", async () => {
    expect(() => parseIdx(new Uint8Array([0x50, 0x4b, 3, 4, 0, 0]), "x.idx")).toThrow(/x.idx: not an IDX file \(magic 50 4b 03 04/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8]), "x.idx")).toThrow(/too short/);
    expect(() => parseIdx(idx(8, [3, 2, 2], []).subarray(0, 10), "x.idx")).toThrow(/truncated header/);
    expect(() => parseIdx(idx(8, [3, 2, 2], [1, 2, 3]), "x.idx")).toThrow(/x.idx: truncated: dimensions \[3,2,2\] of uint8 need 28 bytes, the file has 19/);
    expect(() => parseIdx(idx(8, [1], [1, 2]), "x.idx")).toThrow(/1 bytes after the data/);
    const gz = readFileSync(join(FM, "images-idx3-ubyte.gz"));
    await expect(readIdx(new Uint8Array(gz.subarray(0, 5000)), "cut.gz")).rejects.toThrow(/cut.gz: corrupt or truncated gzip/);
    const raw = await gunzipIfNeeded(new Uint8Array(gz));
    expect(parseIdx(raw).dims).toEqual([64, 28, 28]);
    await expect(IdxDataset.fromBytes(idx(8, [2, 1, 1], [1, 2]), idx(8, [3], [0, 1, 2]))).rejects.toThrow(/images has 2 images but labels 3 labels/);
    await expect(IdxDataset.fromBytes(idx(8, [2, 1], [1, 2]), idx(8, [2], [0, 1]))).rejects.toThrow(/expected images \[N, H, W\] of uint8, found \[2,1\]/);
    await expect(IdxDataset.open(join(FM, "nope.gz"), join(FM, "labels-idx1-ubyte"))).rejects.toThrow(DatasetError);
    await expect(IdxDataset.open(join(FM, "nope.gz"), join(FM, "labels-idx1-ubyte"))).rejects.toThrow(/no such file or folder: .*nope.gz/);
  });
});

describe("class folders", () => {
  it("classes sorted, files walked as DatasetFolder (nested, non-images ignored), PNG and JPEG decoded", async () => {
    const ds = await ImageFolderDataset.open(join(FOLDER, "train"));
    expect(ds.classNames).toEqual(folderMeta.classes);
    expect(ds.samples.map((s) => [s.path.slice(join(FOLDER, "train").length + 1).replaceAll("\\", "/"), s.label])).toEqual(folderMeta.samples);
    for (let i = 0; i < ds.length; i++) {
      const img = await ds.image(i);
      const rel = folderMeta.samples[i][0];
      expect([img.width, img.height]).toEqual(folderMeta.sizes[rel]);
      expect(img.data.length).toBe(img.width * img.height * 3);
    }
  });

  it("the order of sorted(os.walk()): folders by full path (k/a, k/a-b, k/a/x: checked with Python), files sorted", async () => {
    const png = readFileSync(join(FOLDER, "train/bag/b0.png"));
    const names = ["r/k/z.png", "r/k/a/x/q.png", "r/k/a-b/p.png", "r/k/a/m.png", "r/k/B.png", "r/j/y.jpeg"];
    const ds = await ImageFolderDataset.open("r", { files: memoryFileTree(Object.fromEntries(names.map((n) => [n, png]))) });
    expect(ds.classNames).toEqual(["j", "k"]);
    expect(ds.samples.map((s) => s.path)).toEqual(["r/j/y.jpeg", "r/k/B.png", "r/k/z.png", "r/k/a/m.png", "r/k/a-b/p.png", "r/k/a/x/q.png"]);
  });

  it("clear errors: missing root, no class folders, an empty class, undecodable formats, a corrupt image", async () => {
    await expect(ImageFolderDataset.open(join(FOLDER, "nope"))).rejects.toThrow(/no such file or folder/);
    const png = readFileSync(join(FOLDER, "train/bag/b0.png"));
    const files = (f: Record<string, Uint8Array>) => ({ files: memoryFileTree(f) });
    await expect(ImageFolderDataset.open("r", files({ "r/a.png": png }))).rejects.toThrow(/r: no class folders/);
    await expect(ImageFolderDataset.open("r", files({ "r/a/x.png": png, "r/b/readme.txt": new Uint8Array(1) }))).rejects.toThrow(
      /no image in the class folder\(s\) "b"/,
    );
    await expect(ImageFolderDataset.open("r", files({ "r/a/x.webp": png }))).rejects.toThrow(/cannot be decoded \(only PNG and JPEG\), e.g. r\/a\/x.webp/);
    const ds = await ImageFolderDataset.open("r", files({ "r/a/x.PNG": new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0, 0, 1]) }));
    await expect(ds.image(0)).rejects.toThrow(/r\/a\/x.PNG: corrupt PNG/);
    expect(() => ds.label(1)).toThrow(RangeError);
  });
});

describe("the official train transform = Pillow step by step", () => {
  it("flip, Lanczos resize of the shorter side to round(1.125 S), crop, [-1, 1]: every reference case", async () => {
    const store = await openCheckpoint(join(FOLDER, "reference.safetensors"));
    const ds = await ImageFolderDataset.open(join(FOLDER, "train"));
    const byPath = new Map(ds.samples.map((s, i) => [s.path.slice(join(FOLDER, "train").length + 1).replaceAll("\\", "/"), i]));
    const S = folderMeta.size;
    let worst = 0;
    for (const c of folderMeta.cases) {
      let img = await ds.image(byPath.get(c.path)!);
      let got: Float32Array;
      if (c.kind === "train") {
        if (c.flip) img = flipHorizontal(img);
        const r = resizeShorterSide(img, folderMeta.mid);
        expect([r.width, r.height]).toEqual(c.resized);
        got = cropToPm1(r, c.top, c.left, S);
      } else {
        got = centerTransform(img, { size: S });
      }
      const want = toFloat32(await store.read(c.key));
      worst = Math.max(worst, compare(got, want).maxAbs);
    }
    console.log(`[parity] train/center transform: ${folderMeta.cases.length} cases, max abs diff ${worst}`);
    expect(worst).toBe(0);
  });

  it("trainTransform: seeded, in [-1, 1], draws the crop in range; hflip flips about half", async () => {
    const ds = await openFm();
    const img = await ds.image(3);
    const a = trainTransform(img, Random.forIndex(5, 3), { size: 24, hflip: true });
    const b = trainTransform(img, Random.forIndex(5, 3), { size: 24, hflip: true });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...a)).toBeLessThanOrEqual(1);
    let flips = 0;
    for (let k = 0; k < 200; k++) if (Random.forIndex(9, k).random() < 0.5) flips++;
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
    expect(() => trainTransform(img, new Random(0), { size: 40, midReso: 0.5 })).toThrow(/smaller than the crop 40/);
  });
});

describe("DataLoader", () => {
  it("seeded shuffles per epoch, the official fill of the last batch, NHWC float32 batches and int32 labels", async () => {
    const ds = await openFm();
    const ld = new DataLoader(ds, { batchSize: 24, seed: 1, size: 16, hflip: true });
    expect(ld.batchesPerEpoch).toBe(3);
    const o0 = ld.order(0);
    expect(o0.length).toBe(72);
    expect([...new Set(o0.slice(0, 64))].length).toBe(64);
    expect(o0.slice(64)).toEqual(o0.slice(0, 8));
    expect(ld.order(1)).not.toEqual(o0);
    expect(new DataLoader(ds, { batchSize: 24, seed: 1, size: 16 }).order(0)).toEqual(o0);
    expect(new DataLoader(ds, { batchSize: 24, seed: 2, size: 16 }).order(0)).not.toEqual(o0);
    expect(new DataLoader(ds, { batchSize: 24, size: 16, last: "drop" }).batchesPerEpoch).toBe(2);
    expect(new DataLoader(ds, { batchSize: 24, size: 16, shuffle: false, last: "partial" }).order(0)).toEqual([...Array(64).keys()]);

    const batches = [];
    for await (const b of ld.epoch(0)) batches.push(b);
    expect(batches.map((b) => b.shape)).toEqual([
      [24, 16, 16, 3],
      [24, 16, 16, 3],
      [24, 16, 16, 3],
    ]);
    expect(batches.flatMap((b) => b.indices)).toEqual(o0);
    expect(Array.from(batches[1].labels)).toEqual(batches[1].indices.map((i) => ds.label(i)));
    // The same item gets the same augmentation whatever batch it is in.
    const again = await new DataLoader(ds, { batchSize: 8, seed: 1, size: 16, hflip: true }).batch(0, 0);
    const j = batches[0].indices.indexOf(again.indices[0]);
    const n = 16 * 16 * 3;
    expect(Array.from(again.images.subarray(0, n))).toEqual(Array.from(batches[Math.floor(j / 24)].images.subarray((j % 24) * n, (j % 24 + 1) * n)));
    // Resuming mid-epoch.
    const resumed = [];
    for await (const b of ld.epoch(0, 2)) resumed.push(b.indices);
    expect(resumed).toEqual([batches[2].indices]);
    const { images, labels } = DataLoader.toTensors(batches[0]);
    expect([images.shape, images.dtype, labels.shape, labels.dtype]).toEqual([[24, 16, 16, 3], "float32", [24], "int32"]);
    tf.dispose([images, labels]);
  });

  it("prefetches: the next batches are prepared while the current one computes", async () => {
    const base = await openFm();
    const log: string[] = [];
    const slow: ImageDataset = {
      length: base.length,
      numClasses: base.numClasses,
      label: (i) => base.label(i),
      itemName: (i) => base.itemName(i),
      async image(i) {
        await new Promise((r) => setTimeout(r, 2));
        log.push(`load ${i}`);
        return base.image(i);
      },
    };
    /** Run an epoch with a 40 ms "compute" per batch (awaiting, as a GPU readback does); the time spent waiting for batches 1… */
    const run = async (prefetch: number) => {
      const ld = new DataLoader(slow, { batchSize: 8, shuffle: false, transform: "none", prefetch });
      let waited = 0;
      let during = 0;
      let k = 0;
      let t = performance.now();
      for await (const b of ld.epoch(0)) {
        if (k > 0) waited += performance.now() - t;
        expect(b.shape).toEqual([8, 28, 28, 3]);
        const before = log.length;
        await new Promise((r) => setTimeout(r, 40));
        during += log.length - before;
        k++;
        t = performance.now();
      }
      expect(k).toBe(8);
      return { waited, during };
    };
    const withPrefetch = await run(2);
    const without = await run(0);
    console.log(
      `prefetch 2: waited ${withPrefetch.waited.toFixed(1)} ms for batches 1-7, ${withPrefetch.during} of 64 images loaded during compute; ` +
        `prefetch 0: waited ${without.waited.toFixed(1)} ms, ${without.during} loaded during compute`,
    );
    expect(without.during).toBe(0);
    expect(withPrefetch.during).toBeGreaterThanOrEqual(40);
    expect(withPrefetch.waited).toBeLessThan(without.waited / 3);
  });

  it("clear errors: mixed sizes without a resize, transforms without a size, bad batch sizes", async () => {
    const ds = await ImageFolderDataset.open(join(FOLDER, "train"));
    const ld = new DataLoader(ds, { batchSize: 5, shuffle: false, transform: "none" });
    await expect(ld.batch(0, 0)).rejects.toThrow(/images of mixed sizes: .*b0.png is 28×28, .*b1.png is 40×30; give a size/);
    expect(() => new DataLoader(ds, { batchSize: 5 })).toThrow(/transform "train" needs a size/);
    expect(() => new DataLoader(ds, { batchSize: 0, size: 8 })).toThrow(/batchSize must be a positive integer/);
    expect(() => new DataLoader(ds, { batchSize: 6, size: 8, last: "drop" })).toThrow(/no full batch/);
    const ok = new DataLoader(ds, { batchSize: 5, size: 16, hflip: true, seed: 3 });
    const b = await ok.batch(0, 0);
    expect(b.shape).toEqual([5, 16, 16, 3]);
  });
});
