import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync, constants as zc } from "node:zlib";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "./checkpoint.js";
import type { HostTensor } from "./dtype.js";
import { bytesOf, torchStatePickle } from "./fake-torch.testutil.js";
import { writeNpy } from "./npy.js";
import { BufferSource, CheckpointFormatError } from "./source.js";
import { crc32, crc32Js, writeZipStored } from "./zip-write.js";
import { buildZip, deflateRaw, type EntrySpec, extraField, zip64Extra } from "./zip.testutil.js";
import { ZipReader } from "./zip.js";

const tiny = join(FIXTURES, "var-tiny");
const MB = 1 << 20;

const same = (a: HostTensor, b: HostTensor) =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.compare(Buffer.from(bytesOf(a.data)), Buffer.from(bytesOf(b.data))) === 0;

interface Measured {
  ms: number;
  /** Peak growth of process.memoryUsage() during the call, sampled every few ms and at the end. */
  rss: number;
  arrayBuffers: number;
}

async function measure<T>(f: () => Promise<T>): Promise<{ result?: T; error?: unknown } & Measured> {
  const m0 = process.memoryUsage();
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss - m0.rss);
    arrayBuffers = Math.max(arrayBuffers, m.arrayBuffers - m0.arrayBuffers);
  };
  const timer = setInterval(sample, 2);
  const t = performance.now();
  try {
    const result = await f();
    return { result, ms: performance.now() - t, rss, arrayBuffers };
  } catch (error) {
    return { error, ms: performance.now() - t, rss, arrayBuffers };
  } finally {
    clearInterval(timer);
    sample();
  }
}

const fmt = (m: Measured) => `${m.ms.toFixed(0)} ms, peak +${(m.arrayBuffers / MB).toFixed(1)} MB arrayBuffers, +${(m.rss / MB).toFixed(1)} MB rss`;

/** Open `bytes` as a named file and read every tensor; expect a CheckpointFormatError matching every pattern. */
async function rejects(label: string, bytes: Uint8Array, file: string, ...patterns: RegExp[]): Promise<Measured> {
  const m = await measure(async () => {
    const store = await openCheckpoint(new BufferSource(bytes, file));
    for (const k of store.keys()) await store.read(k);
  });
  const msg = String((m.error as Error)?.message);
  console.log(`[zip] ${label}: ${(m.error as Error)?.name ?? "no error"} in ${fmt(m)}: ${msg}`);
  expect(m.error, `${label}: expected an error`).toBeInstanceOf(CheckpointFormatError);
  expect(msg).toContain(file);
  for (const p of patterns) expect(msg).toMatch(p);
  expect(msg.length).toBeLessThan(1000);
  return m;
}

/** Open a zip with ZipReader alone and read every entry. */
async function zipRejects(label: string, bytes: Uint8Array, ...patterns: RegExp[]): Promise<void> {
  const file = "hostile.zip";
  const m = await measure(async () => {
    const zip = await ZipReader.open(new BufferSource(bytes, file));
    for (const e of zip.entries.values()) await zip.read(e);
  });
  const msg = String((m.error as Error)?.message);
  console.log(`[zip] ${label}: ${(m.error as Error)?.name ?? "no error"} in ${fmt(m)}: ${msg}`);
  expect(m.error, `${label}: expected an error`).toBeInstanceOf(CheckpointFormatError);
  expect(msg).toContain(file);
  for (const p of patterns) expect(msg).toMatch(p);
}

/** A torch.save-style archive: data.pkl, byteorder, data/0 (4 floats), version; entries overridable. */
function torchSpecs(over: Record<string, Partial<EntrySpec>> = {}): EntrySpec[] {
  const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 4, offset: 0, shape: [4], stride: [1] }]]);
  const files: [string, Uint8Array][] = [
    ["archive/data.pkl", pkl],
    ["archive/byteorder", new TextEncoder().encode("little")],
    ["archive/data/0", bytesOf(new Float32Array([1, 2, 3, 4]))],
    ["archive/version", new TextEncoder().encode("3\n")],
  ];
  return files.map(([name, data]) => ({ name, data, descriptor: true, ...over[name] }));
}

/**
 * A deflate stream that inflates to `total` zero bytes from about total/1000
 * compressed bytes: one sync-flushed block of 1 MiB of zeros repeated, then
 * an empty final block (deflate blocks concatenate).
 */
function zeroBomb(total: number, prefix: Uint8Array = new Uint8Array(0)): Uint8Array {
  const head = deflateRawSync(prefix, { finishFlush: zc.Z_SYNC_FLUSH });
  const block = deflateRawSync(new Uint8Array(MB), { finishFlush: zc.Z_SYNC_FLUSH, level: 9 });
  const n = Math.ceil(total / MB);
  const out = new Uint8Array(head.length + block.length * n + 2);
  out.set(head);
  for (let i = 0; i < n; i++) out.set(block, head.length + i * block.length);
  out.set([0x03, 0x00], head.length + block.length * n);
  return out;
}

/** The .npy header of a uint8 array that, with its header, fills `total` bytes. */
function npyHeader(total: number): Uint8Array {
  const npy = writeNpy({ dtype: "uint8", shape: [total - 128], data: new Uint8Array(total - 128) });
  expect(npy.length).toBe(total);
  return npy.subarray(0, 128);
}

describe("CRC-32", () => {
  it("matches the standard check values, incrementally and unaligned, natively and in JavaScript", () => {
    const check = new TextEncoder().encode("123456789");
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Js(check)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32Js(new Uint8Array(0))).toBe(0);
    const buf = new Uint8Array(100_003).map((_, i) => (i * 2654435761) >>> 11);
    const want = crc32Js(buf);
    for (const [a, b] of [
      [0, 100_003],
      [1, 99_999],
      [3, 17],
      [5, 13],
      [7, 100_000],
    ]) {
      const part = buf.subarray(a, b);
      let bytewise = ~0;
      for (const x of part) {
        bytewise ^= x;
        for (let k = 0; k < 8; k++) bytewise = bytewise & 1 ? 0xedb88320 ^ (bytewise >>> 1) : bytewise >>> 1;
      }
      expect(crc32Js(part), `${a}..${b}`).toBe(~bytewise >>> 0);
      expect(crc32(part), `${a}..${b}`).toBe(~bytewise >>> 0);
    }
    expect(crc32Js(buf.subarray(40_001), crc32Js(buf.subarray(0, 40_001)))).toBe(want);
    expect(crc32(buf.subarray(40_001), crc32(buf.subarray(0, 40_001)))).toBe(want);
  });

  it("throughput", () => {
    const buf = new Uint8Array(64 * MB).map((_, i) => (i * 2654435761) >>> 13);
    const rate = (f: (d: Uint8Array) => number) => {
      f(buf.subarray(0, MB));
      const t = performance.now();
      f(buf);
      return (buf.length / 1e6 / ((performance.now() - t) / 1000)).toFixed(0);
    };
    const table = (d: Uint8Array) => {
      const t = new Uint32Array(256).map((_, n) => {
        let c = n;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        return c;
      });
      let c = ~0;
      for (let i = 0; i < d.length; i++) c = t[(c ^ d[i]) & 0xff] ^ (c >>> 8);
      return ~c >>> 0;
    };
    console.log(`[zip] crc32 over 64 MiB: ${rate(crc32)} MB/s (used: native when present), ${rate(crc32Js)} MB/s slice-by-8 JavaScript, ${rate(table)} MB/s one table byte by byte`);
    expect(crc32(buf)).toBe(crc32Js(buf));
  });
});

describe("valid archives still load, every tensor identical", () => {
  const readAll = async (input: Uint8Array | string) => {
    const store = await openCheckpoint(input);
    const out = new Map<string, HostTensor>();
    for (const k of store.keys()) out.set(k, await store.read(k));
    await store.close();
    return out;
  };

  it("var.pth and vae.pth (torch.save: stored entries, data descriptors): every entry's CRC checked", async () => {
    for (const f of ["var.pth", "vae.pth"]) {
      const bytes = new Uint8Array(readFileSync(join(tiny, f)));
      const zip = await ZipReader.open(new BufferSource(bytes, f));
      let total = 0;
      for (const e of zip.entries.values()) {
        expect(e.flags & 8, `${f} ${e.name}: torch sets flag bit 3`).toBe(8);
        total += (await zip.read(e)).length;
      }
      expect(zip.stats).toEqual({ verifiedReads: zip.entries.size, unverifiedReads: 0 });
      console.log(`[zip] ${f}: ${zip.entries.size} entries, ${total} bytes, every CRC-32 checked`);
      const tensors = await readAll(bytes);
      expect(tensors.size).toBeGreaterThan(10);
    }
  });

  it("var.pth re-packed with every entry deflated loads with every tensor identical", async () => {
    const bytes = new Uint8Array(readFileSync(join(tiny, "var.pth")));
    const src = await ZipReader.open(new BufferSource(bytes, "var.pth"));
    const specs: EntrySpec[] = [];
    for (const e of src.entries.values()) {
      const data = await src.read(e);
      specs.push({ name: e.name, data, stored: await deflateRaw(data), method: 8, descriptor: specs.length % 2 === 0 });
    }
    const deflated = buildZip(specs).bytes;
    const want = await readAll(bytes);
    const m = await measure(() => readAll(deflated));
    const got = m.result!;
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [k, t] of want) expect(same(got.get(k)!, t), k).toBe(true);
    console.log(`[zip] var.pth deflated (${deflated.length} of ${bytes.length} bytes): ${got.size} tensors identical, loaded in ${fmt(m)}`);
  });

  it("npz members, stored and deflated, and readRange on both", async () => {
    const arr = new Float64Array(300_000).map((_, i) => Math.sin(i));
    const npy = writeNpy({ dtype: "float64", shape: [300_000], data: arr });
    const zipBytes = buildZip([
      { name: "a.npy", data: npy },
      { name: "b.npy", data: npy, stored: await deflateRaw(npy), method: 8 },
    ]).bytes;
    const store = await openCheckpoint(zipBytes);
    const want: HostTensor = { dtype: "float64", shape: [300_000], data: arr };
    expect(same(await store.read("a"), want)).toBe(true);
    expect(same(await store.read("b"), want)).toBe(true);
    const zip = await ZipReader.open(new BufferSource(zipBytes));
    const [a, b] = [...zip.entries.values()];
    const eq = (x: Uint8Array, y: Uint8Array) => expect(Buffer.from(x).equals(Buffer.from(y))).toBe(true);
    eq(await zip.readRange(a, 100, 50), npy.subarray(100, 150)); // small range of a 2.4 MB entry: unverified
    expect(zip.stats.unverifiedReads).toBe(1);
    eq(await zip.readRange(a, 1000, npy.length - 1000), npy.subarray(1000)); // most of it: read whole, verified
    eq(await zip.readRange(b, 5, 10), npy.subarray(5, 15)); // deflated, the start: inflated up to byte 15 only
    eq(await zip.readRange(b, npy.length - 10, 10), npy.subarray(npy.length - 10)); // the end: inflated whole, verified
    expect(zip.stats).toEqual({ verifiedReads: 2, unverifiedReads: 2 });
    await expect(zip.readRange(a, npy.length - 1, 2)).rejects.toThrow(/read of 2 bytes at offset \d+ lies outside/);
    await expect(zip.readRange(a, -1, 2)).rejects.toBeInstanceOf(CheckpointFormatError);
  });
});

describe("decompression bombs stop at the declared size", () => {
  // 64 MiB of zeros deflates to about 64 KiB; each bomb declares 1 KiB (or a tensor's 16 bytes).
  const bomb = (async () => deflateRaw(new Uint8Array(64 * MB)))();
  const expectSmall = (m: Measured) => {
    expect(m.ms).toBeLessThan(2000);
    expect(m.arrayBuffers).toBeLessThan(16 * MB); // far below the 64 MiB it would inflate to
    expect(m.rss).toBeLessThan(48 * MB);
  };

  it("data.pkl", async () => {
    const stored = await bomb;
    console.log(`[zip] bomb: 64 MiB of zeros deflate to ${stored.length} bytes`);
    const specs = torchSpecs({ "archive/data.pkl": { stored, method: 8, cd: { size: 1024 } } });
    expectSmall(await rejects("data.pkl bomb", buildZip(specs).bytes, "bomb.pth", /"archive\/data\.pkl"/, /inflates past its declared 1024 bytes/, /decompression bomb/));
  });

  it("a storage (data/0), read lazily", async () => {
    const stored = await bomb;
    const specs = torchSpecs({ "archive/data/0": { stored, method: 8, cd: { size: 16 } } });
    expectSmall(await rejects("storage bomb", buildZip(specs).bytes, "bomb.pth", /"archive\/data\/0"/, /inflates past its declared 16 bytes/));
  });

  it("byteorder", async () => {
    const stored = await bomb;
    const specs = torchSpecs({ "archive/byteorder": { stored, method: 8, cd: { size: 6 } } });
    expectSmall(await rejects("byteorder bomb", buildZip(specs).bytes, "bomb.pth", /"archive\/byteorder"/, /inflates past its declared 6 bytes/));
  });

  it("an npz member (a valid .npy header, then 64 MiB of zeros)", async () => {
    const header = npyHeader(1024);
    const stored = zeroBomb(64 * MB, header);
    const bytes = buildZip([{ name: "arr_0.npy", data: new Uint8Array(0), stored, method: 8, descriptor: true, cd: { size: 1024 } }]).bytes;
    expectSmall(await rejects("npz member bomb", bytes, "bomb.npz", /"arr_0\.npy"/, /inflates past its declared 1024 bytes/));
  });

  it("a 4 GiB bomb costs what a 64 MiB one does: the declared size, not the data", async () => {
    const stored = zeroBomb(4096 * MB, npyHeader(MB));
    const bytes = buildZip([{ name: "arr_0.npy", data: new Uint8Array(0), stored, method: 8, descriptor: true, cd: { size: MB } }]).bytes;
    const m = await rejects(`4 GiB bomb (${stored.length} bytes deflated), declared 1 MiB`, bytes, "bomb4g.npz", /inflates past its declared 1048576 bytes/);
    expectSmall(m);
  });

  it("readRange on a bomb: a partial range inflates no further than it, a range at the end stops at the declared size", async () => {
    const stored = zeroBomb(4096 * MB);
    const declared = 64 * MB;
    const zip = await ZipReader.open(new BufferSource(buildZip([{ name: "x", data: new Uint8Array(0), stored, method: 8, descriptor: true, cd: { size: declared } }]).bytes, "bomb.zip"));
    const e = zip.entries.get("x")!;
    const head = await measure(() => zip.readRange(e, 0, 1024));
    expect(head.result).toEqual(new Uint8Array(1024));
    expect(zip.stats.unverifiedReads).toBe(1);
    expectSmall(head);
    const end = await measure(() => zip.readRange(e, declared - 16, 16));
    expect(end.error).toBeInstanceOf(CheckpointFormatError);
    expect(String((end.error as Error).message)).toMatch(/inflates past its declared 67108864 bytes/);
    // Inflates the declared 64 MiB and keeps 16 bytes: what stays unreclaimed is the inflater's spent
    // 16 KiB chunks, which the collector has not freed yet; never the 4 GiB.
    expect(end.ms).toBeLessThan(5000);
    expect(end.arrayBuffers).toBeLessThan(declared);
    console.log(`[zip] readRange on a 4 GiB bomb declared 64 MiB: 1 KiB head in ${fmt(head)}; 16-byte tail: error in ${fmt(end)}`);
  });

  it("an entry that inflates to less than its declared size", async () => {
    const data = new Uint8Array(1000).fill(7);
    const specs = torchSpecs({ "archive/data/0": { data, stored: await deflateRaw(data), method: 8, cd: { size: 2000 } } });
    await rejects("deflated entry ending short", buildZip(specs).bytes, "short.pth", /"archive\/data\/0"/, /inflates to only 1000 bytes, the archive declares 2000/);
  });

  it("corrupt deflate data, and deflate data cut short", async () => {
    const data = new Uint8Array(5000).map((_, i) => i * 7);
    const good = await deflateRaw(data);
    const garbage = new Uint8Array(good.length).map((_, i) => (i * 151 + 7) & 0xff);
    garbage[0] = 0xff; // reserved block type 3
    await zipRejects("garbage deflate data", buildZip([{ name: "x", data, stored: garbage, method: 8 }]).bytes, /"x"/, /corrupt deflate data/);
    await zipRejects("deflate data cut short", buildZip([{ name: "x", data, stored: good.subarray(0, good.length >> 1), method: 8 }]).bytes, /"x"/, /corrupt deflate data|inflates to only/);
  });

  it("a declared size deflate cannot produce from the compressed size is refused at open", async () => {
    const data = new Uint8Array(10);
    await zipRejects(
      "declared size over 1032x",
      buildZip([{ name: "x", data, stored: await deflateRaw(data), method: 8, cd: { size: 0xffffffff, extra: zip64Extra(2 ** 40) } }]).bytes,
      /declares 1099511627776 bytes, more than deflate can produce/,
    );
  });
});

describe("integrity: CRC-32 and the local headers", () => {
  it("a corrupted byte in a stored storage is caught by its CRC", async () => {
    const specs = torchSpecs();
    const layout = buildZip(specs);
    const bytes = layout.bytes.slice();
    bytes[layout.offsets[2].data + 5] ^= 0x01;
    await rejects("one flipped bit in data/0", bytes, "flipped.pth", /"archive\/data\/0"/, /CRC-32 mismatch/);
  });

  it("a corrupted data.pkl is caught by its CRC before it is unpickled", async () => {
    const layout = buildZip(torchSpecs());
    const bytes = layout.bytes.slice();
    bytes[layout.offsets[0].data + 20] ^= 0x40;
    await rejects("one flipped bit in data.pkl", bytes, "flipped.pth", /"archive\/data\.pkl"/, /CRC-32 mismatch/);
  });

  it("a CRC mismatch in var.pth (one byte of head.weight)", async () => {
    const bytes = new Uint8Array(readFileSync(join(tiny, "var.pth")));
    const zip = await ZipReader.open(new BufferSource(bytes));
    const store = await openCheckpoint(bytes);
    const key = (store as unknown as { storageKey(n: string): string }).storageKey("head.weight");
    const entry = [...zip.entries.values()].find((e) => e.name.endsWith(`/data/${key}`))!;
    const at = (await zip.dataOffset(entry)) + Math.floor(entry.size / 2);
    const bad = bytes.slice();
    bad[at] ^= 0x80;
    await rejects("flipped bit in var.pth head.weight", bad, "var-flipped.pth", /CRC-32 mismatch/, new RegExp(`data/${key}"`));
  });

  it("a partial range of a large stored entry is not verified; half or more is", async () => {
    const data = new Uint8Array(4 * MB).map((_, i) => i);
    const layout = buildZip([{ name: "big", data }]);
    const bytes = layout.bytes.slice();
    bytes[layout.offsets[0].data + 3 * MB] ^= 1;
    const zip = await ZipReader.open(new BufferSource(bytes, "partial.zip"));
    const e = zip.entries.get("big")!;
    expect((await zip.readRange(e, 0, 1024)).length).toBe(1024);
    expect(zip.stats).toEqual({ verifiedReads: 0, unverifiedReads: 1 });
    await expect(zip.readRange(e, 0, 2 * MB)).rejects.toThrow(/partial\.zip: zip entry "big": CRC-32 mismatch/);
  });

  it("duplicate entry names", () =>
    rejects("duplicate names", buildZip([...torchSpecs(), { name: "archive/data/0", data: new Uint8Array(16) }]).bytes, "dup.pth", /"archive\/data\/0": appears twice/));

  it("writeZipStored refuses duplicate names too", () => {
    expect(() => writeZipStored([["a", new Uint8Array(1)], ["a", new Uint8Array(1)]])).toThrow(/duplicate entry name "a"/);
  });

  it("a local header naming another file", () =>
    rejects("local name differs", buildZip(torchSpecs({ "archive/data/0": { local: { name: "archive/data/9" } } })).bytes, "name.pth", /"archive\/data\/0": its local header names "archive\/data\/9"/));

  it("a local header with another method", () =>
    rejects("local method differs", buildZip(torchSpecs({ "archive/data/0": { local: { method: 8 } } })).bytes, "method.pth", /local header says compression method 8, the central directory 0/));

  it("a local header with other sizes or CRC (no data descriptor)", async () => {
    await rejects("local size differs", buildZip(torchSpecs({ "archive/data/0": { descriptor: false, local: { size: 12 } } })).bytes, "size.pth", /"archive\/data\/0": its local header \(CRC 0x[0-9a-f]+, 12 bytes/, /disagrees with the central directory/);
    await rejects("local CRC differs", buildZip(torchSpecs({ "archive/data/0": { descriptor: false, local: { crc: 1234 } } })).bytes, "crc.pth", /its local header \(CRC 0x000004d2/);
  });

  it("data-descriptor flag (bit 3): zeros in the local header load; other values, or the flag on one side only, do not", async () => {
    const ok = await openCheckpoint(buildZip(torchSpecs()).bytes);
    expect(Array.from((await ok.read("w")).data as Float32Array)).toEqual([1, 2, 3, 4]);
    const noDescriptor = await openCheckpoint(buildZip(torchSpecs({ "archive/data/0": { descriptor: false } })).bytes);
    expect(Array.from((await noDescriptor.read("w")).data as Float32Array)).toEqual([1, 2, 3, 4]);
    await rejects("bit 3 with a wrong local size", buildZip(torchSpecs({ "archive/data/0": { local: { size: 5 } } })).bytes, "dd.pth", /local header's CRC .* or sizes \(5, 0 compressed\) disagree/);
    await rejects("bit 3 in the central directory only", buildZip(torchSpecs({ "archive/data/0": { local: { flags: 0x800 } } })).bytes, "dd.pth", /local header's flags 0x800 disagree with the central directory's 0x808/);
  });

  it("encrypted entries and unsupported methods", async () => {
    await zipRejects("encrypted", buildZip([{ name: "x", data: new Uint8Array(4), cd: { flags: 1 } }]).bytes, /"x": is encrypted/);
    await zipRejects("method 12 (bzip2)", buildZip([{ name: "x", data: new Uint8Array(4), method: 12 }]).bytes, /"x": uses unsupported compression method 12/);
  });
});

describe("structure: overlaps, extra fields, counts and offsets", () => {
  it("two entries sharing one local header and its data (overlap)", async () => {
    const specs = torchSpecs();
    specs.push({ name: "archive/data/1", data: specs[2].data, cd: { offset: 0 } }); // offset patched below
    const layout = buildZip(specs);
    // Point the last record at data/0's local header.
    const bytes = layout.bytes.slice();
    const dv = new DataView(bytes.buffer);
    let p = layout.cdOffset;
    for (let i = 0; i < specs.length - 1; i++) p += 46 + dv.getUint16(p + 28, true) + dv.getUint16(p + 30, true) + dv.getUint16(p + 32, true);
    dv.setUint32(p + 42, layout.offsets[2].header, true);
    await rejects("overlapping entries", bytes, "overlap.pth", /zip entries "archive\/data\/0" .* and "archive\/data\/1" .* overlap/, /zip bomb/);
  });

  it("an entry whose data runs into the central directory", async () => {
    const specs = torchSpecs();
    specs[3].cd = { size: 400, csize: 400 };
    await rejects("entry overlapping the central directory", buildZip(specs).bytes, "overlap-cd.pth", /"archive\/version" .* overlaps the central directory/);
  });

  it("an entry whose local extra field pushes its data into the next entry", async () => {
    const specs = torchSpecs({ "archive/byteorder": { local: { extra: extraField(0x4246, new Uint8Array(8)) } } });
    const layout = buildZip(specs);
    const bytes = layout.bytes.slice();
    new DataView(bytes.buffer).setUint16(layout.offsets[1].header + 28, 60, true); // claim a 60-byte extra field
    await rejects("local extra overlapping the next entry", bytes, "overlap-local.pth", /"archive\/byteorder": its data .* runs into the next entry/);
  });

  it("an empty or short ZIP64 extra field (was a DataView RangeError)", async () => {
    for (const [label, extra, pattern] of [
      ["empty ZIP64 field", extraField(1, new Uint8Array(0)), /ZIP64 extra field has 0 bytes, the fields it replaces need 8/],
      ["4-byte ZIP64 field", extraField(1, new Uint8Array(4)), /ZIP64 extra field has 4 bytes, the fields it replaces need 8/],
      ["ZIP64 field longer than the extra data", extraField(1, new Uint8Array(4), 200), /extra field 0x0001 \(200 bytes\) runs past the end/],
    ] as const) {
      await zipRejects(label, buildZip([{ name: "x", data: new Uint8Array(8), cd: { size: 0xffffffff, extra } }]).bytes, /"x"/, pattern);
    }
    await zipRejects("0xffffffff without a ZIP64 field", buildZip([{ name: "x", data: new Uint8Array(8), cd: { offset: 0xffffffff } }]).bytes, /no ZIP64 extra field/);
    await zipRejects(
      "ZIP64 value beyond 2^53",
      buildZip([{ name: "x", data: new Uint8Array(8), cd: { offset: 0xffffffff, extra: zip64Extra(2 ** 60) } }]).bytes,
      /ZIP64 local header offset 1152921504606846976 is out of range/,
    );
    await zipRejects(
      "ZIP64 offset past the central directory",
      buildZip([{ name: "x", data: new Uint8Array(8), cd: { offset: 0xffffffff, extra: zip64Extra(1e12) } }]).bytes,
      /local header at offset 1000000000000 lies inside or past the central directory/,
    );
  });

  it("valid ZIP64 extra fields and a ZIP64 end record load", async () => {
    const data = new Uint8Array(100).map((_, i) => i);
    const bytes = buildZip([{ name: "x", data, cd: { size: 0xffffffff, csize: 0xffffffff, offset: 0xffffffff, extra: zip64Extra(100, 100, 0) } }], { zip64: {} }).bytes;
    const zip = await ZipReader.open(new BufferSource(bytes));
    expect(await zip.read(zip.entries.get("x")!)).toEqual(data);
  });

  it("entry counts the central directory cannot hold, and offsets outside the file", async () => {
    const specs = [{ name: "x", data: new Uint8Array(8) }];
    await zipRejects("65000 entries claimed", buildZip(specs, { eocd: { count: 65000 } }).bytes, /claims 65000 entries, but its \d+ bytes hold at most 1/);
    await zipRejects("ZIP64 count 2^50", buildZip(specs, { zip64: { count: 2 ** 50 } }).bytes, /claims 1125899906842624 entries/);
    await zipRejects("ZIP64 count beyond 2^53", buildZip(specs, { zip64: { count: 2 ** 60 } }).bytes, /zip64 entry count 1152921504606846976 is out of range/);
    await zipRejects("central directory offset past the end", buildZip(specs, { eocd: { cdOffset: 1e9 } }).bytes, /central directory \(\d+ bytes at offset 1000000000\) runs past its end record/);
    await zipRejects("ZIP64 record offset past the locator", buildZip(specs, { zip64: { recordOffset: 2 ** 40 } }).bytes, /zip64 end record at offset 1099511627776 does not lie before its locator/);
    await zipRejects("fewer entries than the directory holds", buildZip([...specs, { name: "y", data: new Uint8Array(1) }], { eocd: { count: 1 } }).bytes, /has \d+ bytes after its 1 entries/);
    await zipRejects("a split archive", buildZip(specs, { eocd: { disk: 1 } }).bytes, /multi-disk/);
    await zipRejects("entry on another disk", buildZip([{ name: "x", data: new Uint8Array(8), cd: { disk: 2 } }]).bytes, /starts on another disk/);
    await zipRejects("stored entry with two sizes", buildZip([{ name: "x", data: new Uint8Array(8), cd: { csize: 4 } }]).bytes, /is stored, yet its compressed size 4 differs from its size 8/);
  });

  it("a central directory record cut off, and names kept short in messages", async () => {
    const long = "n".repeat(5000);
    const bytes = buildZip([{ name: long, data: new Uint8Array(8), cd: { flags: 1 } }]).bytes;
    const err = await ZipReader.open(new BufferSource(bytes, "long.zip")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    const msg = (err as Error).message;
    expect(msg).toContain("(5000 characters)");
    expect(msg.length).toBeLessThan(320);
    const cut = buildZip([{ name: "x", data: new Uint8Array(8) }]);
    const b = cut.bytes.slice();
    new DataView(b.buffer).setUint16(cut.cdOffset + 28, 500, true); // name length past the directory
    await zipRejects("record running past the directory", b, /entry 0 of 1 runs past its end/);
  });

  it("fuzz: every single-byte corruption of a small archive's headers ends in a CheckpointFormatError or a correct load", async () => {
    const layout = buildZip(torchSpecs());
    const regions: number[] = [];
    for (const o of layout.offsets) for (let i = 0; i < 30; i++) regions.push(o.header + i);
    for (let i = layout.cdOffset; i < layout.bytes.length; i++) regions.push(i);
    let errors = 0;
    let loads = 0;
    const t = performance.now();
    for (const at of regions) {
      for (const v of [0x00, 0xff, layout.bytes[at] ^ 0x10]) {
        const b = layout.bytes.slice();
        b[at] = v;
        try {
          const store = await openCheckpoint(new BufferSource(b, "fuzz.pth"));
          // A load must be the right load: the one tensor, its four values.
          expect(store.keys(), `byte ${at} = ${v}`).toEqual(["w"]);
          expect(Array.from((await store.read("w")).data as Float32Array), `byte ${at} = ${v}`).toEqual([1, 2, 3, 4]);
          loads++;
        } catch (e) {
          if (!(e instanceof CheckpointFormatError)) throw new Error(`byte ${at} = ${v}: ${(e as Error).name}: ${(e as Error).message}`);
          errors++;
        }
      }
    }
    console.log(
      `[zip] fuzz: ${regions.length * 3} one-byte corruptions of the headers: ${errors} CheckpointFormatErrors, ${loads} correct loads (fields nobody needs: times, versions, attributes), ${(performance.now() - t).toFixed(0)} ms`,
    );
    expect(errors).toBeGreaterThan(loads);
  });
});
