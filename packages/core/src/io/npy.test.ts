/**
 * .npy / .npz: numpy's own files and numpy's verdict on header texts
 * (test-fixtures/numpy-headers, made by tools/fixtures/make_numpy_headers.py),
 * and hostile or corrupted files built here by byte surgery: each must end in
 * a CheckpointFormatError naming the file and the array, never a wrong load.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { openCheckpoint, zipLayout } from "./checkpoint.js";
import { DTYPE_SIZE, type HostTensor, halfToFloat } from "./dtype.js";
import { bytesOf, torchStatePickle, torchZip } from "./fake-torch.testutil.js";
import { NPY_MAX_HEADER, openNpz, parseNpyHeader, readNpy, writeNpy, writeNpz } from "./npy.js";
import { BufferSource, CheckpointFormatError } from "./source.js";
import type { TensorStore } from "./store.js";
import { writeZipStored } from "./zip-write.js";
import type { ZipEntry } from "./zip.js";

const DIR = join(FIXTURES, "numpy-headers");
interface ArrayMeta {
  dtype: string;
  shape: number[];
  fortran: boolean;
  values: number[];
}
interface FileMeta extends Partial<ArrayMeta> {
  version?: [number, number];
  note?: string;
  header_length?: number;
}
const meta: { files: Record<string, FileMeta>; npz: Record<string, ArrayMeta> } = JSON.parse(
  readFileSync(join(DIR, "meta.json"), "utf8"),
);

interface HeaderCase {
  name: string;
  version: [number, number];
  header: string;
  numpy: { ok: true; dtype: string; fortran: boolean; shape: (number | boolean)[] } | { ok: false; error: string };
  stricter?: string;
}
const cases: HeaderCase[] = JSON.parse(readFileSync(join(DIR, "headers.json"), "utf8"));

const enc = new TextEncoder();

/** A .npy file: preamble of `version`, the header text (padded like numpy unless `pad` is false), then `data`. */
function npy(header: string, data: Uint8Array | number = 0, opts: { version?: number; pad?: boolean } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const start = version === 1 ? 10 : 12;
  let text = header;
  if (opts.pad !== false) text += " ".repeat((64 - ((start + text.length + 1) % 64)) % 64) + "\n";
  const hb = version === 3 ? enc.encode(text) : Uint8Array.from(text, (c) => c.charCodeAt(0));
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(start + hb.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, hb.length, true);
  else dv.setUint32(8, hb.length, true);
  out.set(hb, start);
  out.set(body, start + hb.length);
  return out;
}

const header = (descr: string, shape: string, fortran = "False") => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

async function readAll(input: Uint8Array | string): Promise<{ store: TensorStore; arrays: Map<string, HostTensor> }> {
  const store = await openCheckpoint(input);
  const arrays = new Map<string, HostTensor>();
  for (const k of store.keys()) arrays.set(k, await store.read(k));
  await store.close();
  return { store, arrays };
}

async function refusal(input: Uint8Array | string): Promise<CheckpointFormatError> {
  const err = await readAll(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a CheckpointFormatError").toBeInstanceOf(CheckpointFormatError);
  return err as CheckpointFormatError;
}

async function rejects(input: Uint8Array | string, pattern: RegExp): Promise<string> {
  const { message } = await refusal(input);
  expect(message).toMatch(pattern);
  return message;
}

/** The values of a host tensor as numbers (float16 decoded, int64 and bool as numbers). */
function numbers(t: HostTensor): number[] {
  if (t.dtype === "float16") return Array.from(t.data as Uint16Array, halfToFloat);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** numpy's `dtype.str` for what the reader made of a header. */
const dtypeStr = (h: { dtype: HostTensor["dtype"]; bigEndian: boolean }) => {
  const code = { float64: "f8", float32: "f4", float16: "f2", int64: "i8", int32: "i4", int16: "i2", int8: "i1", uint8: "u1", bool: "b1" }[
    h.dtype as string
  ];
  return `${DTYPE_SIZE[h.dtype] === 1 ? "|" : h.bigEndian ? ">" : "<"}${code}`;
};
const DTYPE_OF: Record<string, string> = { f8: "float64", f4: "float32", f2: "float16", i8: "int64", i4: "int32", i2: "int16", i1: "int8", u1: "uint8", b1: "bool" };

/** Zip entries by name, with data offsets, for byte surgery on archives. */
function localData(zip: Uint8Array, member: string): number {
  const dv = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const name = enc.encode(member);
  for (let p = 0; p + 30 < zip.length; p++) {
    if (dv.getUint32(p, true) !== 0x04034b50) continue;
    const n = dv.getUint16(p + 26, true);
    if (n === name.length && name.every((b, i) => zip[p + 30 + i] === b)) return p + 30 + n + dv.getUint16(p + 28, true);
  }
  throw new Error(`no local header for ${member}`);
}

describe("numpy's own files (test-fixtures/numpy-headers)", () => {
  for (const [file, m] of Object.entries(meta.files)) {
    if (!m.values) continue;
    it(`${file}: ${m.note}`, async () => {
      const bytes = new Uint8Array(readFileSync(join(DIR, file)));
      expect([bytes[6], bytes[7]]).toEqual(m.version);
      const { store, arrays } = await readAll(join(DIR, file));
      expect(store.format).toBe("npy");
      const t = arrays.get("arr_0")!;
      expect(t.dtype).toBe(DTYPE_OF[m.dtype!.slice(1)]);
      expect(t.shape).toEqual(m.shape);
      expect(numbers(t)).toEqual(m.values);
      expect(readNpy(bytes).shape).toEqual(m.shape);
    });
  }

  it("object arrays (pickles) are refused, and say so", async () => {
    await rejects(join(DIR, "object.npy"), /object\.npy: \.npy array has dtype "\|O": object arrays hold pickled Python objects and are refused/);
    await rejects(join(DIR, "structured_object.npy"), /structured dtype with an object field: object arrays/);
  });

  it("structured arrays and unsupported dtypes are refused with the real cause", async () => {
    await rejects(join(DIR, "structured.npy"), /structured dtype \(a record array with fields "x", "y"\), which is not supported/);
    const u4 = await rejects(join(DIR, "u4.npy"), /unsupported \.npy dtype "<u4" \(uint32\); the dtypes read are float16, float32/);
    expect(u4).not.toMatch(/object/);
    await rejects(join(DIR, "c8.npy"), /unsupported \.npy dtype "<c8" \(complex64\)/);
  });

  for (const file of ["savez.npz", "savez_compressed.npz"]) {
    it(`${file}: every array, keys such as __proto__ and constructor included`, async () => {
      const { store, arrays } = await readAll(join(DIR, file));
      expect(store.format).toBe("npz");
      expect(store.keys()).toEqual(Object.keys(meta.npz));
      for (const [k, want] of Object.entries(meta.npz)) {
        const t = arrays.get(k)!;
        expect(t.dtype, k).toBe(DTYPE_OF[want.dtype.slice(1)]);
        expect(t.shape, k).toEqual(want.shape);
        expect(numbers(t), k).toEqual(want.values);
        expect(store.has(k)).toBe(true);
        expect(store.info(k).shape).toEqual(want.shape);
      }
      expect(store.has("toString")).toBe(false);
    });
  }

  it("a structured header numpy wrote as version 2.0 (88 KB, deflated) is read whole and refused as structured, not as truncated", async () => {
    const m = meta.files["wide_structured_v2.npz"];
    expect(m.version).toEqual([2, 0]);
    expect(m.header_length).toBeGreaterThan(65535);
    const msg = await rejects(join(DIR, "wide_structured_v2.npz"), /"wide\.npy": \.npy array has a structured dtype/);
    expect(msg).not.toMatch(/truncated/);
    expect(msg).toMatch(/and 3995 more/);
    expect(msg.length).toBeLessThan(800);
  });

  it("a corrupt deflate stream in an npz member is a CheckpointFormatError", async () => {
    const zip = new Uint8Array(readFileSync(join(DIR, "savez_compressed.npz")));
    const p = localData(zip, "sigma.npy");
    zip.fill(0xff, p, p + 8);
    await rejects(zip, /corrupt deflate data/);
  });
});

describe("numpy's verdict on .npy header texts (headers.json)", () => {
  expect(cases.length).toBeGreaterThan(200);
  for (const c of cases) {
    const label = `${c.name} (v${c.version[0]}): numpy ${c.numpy.ok ? "accepts" : "refuses"}${c.stricter ? ", nextscale refuses" : ""}`;
    it(label, () => {
      const bytes = npy(c.header, 0, { version: c.version[0], pad: false });
      let got: ReturnType<typeof parseNpyHeader> | undefined;
      let err: unknown;
      try {
        got = parseNpyHeader(bytes, "h.npy");
      } catch (e) {
        err = e;
      }
      if (c.numpy.ok && !c.stricter) {
        expect(err, String(err)).toBeUndefined();
        expect(dtypeStr(got!)).toBe(c.numpy.dtype);
        expect(got!.fortran).toBe(c.numpy.fortran);
        expect(got!.shape).toEqual(c.numpy.shape);
      } else {
        expect(err, "expected a CheckpointFormatError").toBeInstanceOf(CheckpointFormatError);
        if (c.stricter) expect((err as Error).message).toMatch(new RegExp(c.stricter));
        expect((err as Error).message.length).toBeLessThan(700);
      }
    });
  }
});

describe("valid headers load", () => {
  const f4 = (values: number[]) => bytesOf(new Float32Array(values));

  it("an 8 KB header padded with spaces, in versions 1.0, 2.0 and 3.0, as .npy and inside an .npz", async () => {
    for (const version of [1, 2, 3]) {
      const start = version === 1 ? 10 : 12;
      const text = header("<f4", "(2, 2)");
      const padded = text + " ".repeat(8192 - start - text.length - 1) + "\n";
      const file = npy(padded, f4([1, 2, 3, 4]), { version, pad: false });
      expect(parseNpyHeader(file, "x").dataOffset).toBe(8192);
      const { store, arrays } = await readAll(file);
      expect(store.format).toBe("npy");
      expect(Array.from(arrays.get("arr_0")!.data as Float32Array)).toEqual([1, 2, 3, 4]);
      const z = await readAll(writeZipStored([["big.npy", file]]));
      expect(Array.from(z.arrays.get("big")!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    }
  });

  it("Python 2 headers (L suffixes), trailing commas, 0-d, big-endian and Fortran order", async () => {
    const long = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }", f4([5, 6]));
    expect((await readAll(long)).arrays.get("arr_0")!.shape).toEqual([2, 1]);
    const scalar = npy(header(">i4", "()"), new Uint8Array([0, 0, 1, 2]));
    const s = (await readAll(scalar)).arrays.get("arr_0")!;
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data as Int32Array)).toEqual([258]);
    const fortran = npy(header("<i2", "(2, 3,)", "True"), bytesOf(new Int16Array([0, 3, 1, 4, 2, 5])));
    expect(Array.from((await readAll(fortran)).arrays.get("arr_0")!.data as Int16Array)).toEqual([0, 1, 2, 3, 4, 5]);
    const v3 = npy('{"descr": ">f8", "shape": (1,), "fortran_order": False}', new Uint8Array([0x3f, 0xf0, 0, 0, 0, 0, 0, 0]), { version: 3 });
    expect(Array.from((await readAll(v3)).arrays.get("arr_0")!.data as Float64Array)).toEqual([1]);
  });

  it("whatever writeNpy and writeNpz write", async () => {
    const arrays: [string, HostTensor][] = [
      ["a", { dtype: "float32", shape: [2, 3], data: new Float32Array(6).map((_, i) => i) }],
      ["b", { dtype: "int64", shape: [], data: BigInt64Array.of(-3n) }],
      ["c", { dtype: "bool", shape: [0], data: new Uint8Array(0) }],
      ["d", { dtype: "float16", shape: [1], data: Uint16Array.of(0x3c00) }],
      ["__proto__", { dtype: "uint8", shape: [1], data: Uint8Array.of(9) }],
    ];
    const { store, arrays: back } = await readAll(writeNpz(arrays));
    expect(store.format).toBe("npz");
    expect([...back.keys()]).toEqual(["a", "b", "c", "d", "__proto__"]);
    for (const [k, t] of arrays) expect(back.get(k), k).toEqual(t);
    for (const [, t] of arrays) expect(readNpy(writeNpy(t))).toEqual(t);
  });

  it("every .pth fixture still opens as a PyTorch checkpoint", async () => {
    // *.refused.pth: fixtures made to be refused (their folder's README says why)
    const files = readdirSync(FIXTURES, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".pth") && !f.endsWith(".refused.pth"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const s = await openCheckpoint(join(FIXTURES, f));
      expect(s.format, f).toBe("pth");
      expect(s.keys().length, f).toBeGreaterThan(0);
      await s.close();
    }
  });
});

describe("hostile and corrupted .npy: a CheckpointFormatError naming the file, never a wrong load", () => {
  const pickleBytes = new Uint8Array([0x80, 2, 0x5d, 0x71, 0, 0x2e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 16 bytes, as two float64

  it("an object dtype hidden beside a second descr key is refused (it loaded as float64 before)", async () => {
    const evil = npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), 'descr': '<f8'}", pickleBytes);
    await rejects(evil, /buffer: \.npy header is not a valid header literal: duplicate key "descr" \(numpy would silently take the last one\)/);
    const evil2 = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '|O'}", pickleBytes);
    await rejects(evil2, /duplicate key "descr"/);
  });

  it("object dtypes in every spelling say they are object arrays", async () => {
    for (const d of ["|O", "O", "<O", "=O8", "object", "object_"]) {
      await rejects(npy(header(d, "(2,)"), pickleBytes), /object arrays hold pickled Python objects and are refused/);
    }
    await rejects(npy("{'descr': [('a', '<f4'), ('b', [('c', '|O')])], 'fortran_order': False, 'shape': (1,)}", 12), /structured dtype with an object field/);
    await rejects(npy("{'descr': ('|O', (2,)), 'fortran_order': False, 'shape': (1,)}", 16), /object subarray dtype/);
  });

  it("unsupported dtypes state the real cause", async () => {
    const cases: [string, RegExp][] = [
      ["<u4", /unsupported \.npy dtype "<u4" \(uint32\)/],
      [">u2", /">u2" \(uint16\)/],
      ["<c16", /complex128/],
      ["<f16", /long double/],
      ["|S4", /bytes strings/],
      ["<U2", /unicode strings/],
      ["<M8[ns]", /datetime64\[ns\]/],
      ["<x9", /descr "<x9" is not a dtype string in the form numpy writes/],
      ["float32", /descr "float32" is not a dtype string/],
    ];
    for (const [d, pattern] of cases) {
      const msg = await rejects(npy(header(d, "(1,)"), 16), pattern);
      expect(msg, d).not.toMatch(/object/);
    }
    await rejects(npy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4), /structured dtype/);
  });

  it("unknown, missing and duplicate keys", async () => {
    await rejects(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': True}", 4), /unknown key "extra"/);
    await rejects(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '__proto__': '<f8'}", 4), /unknown key "__proto__"/);
    await rejects(npy("{'descr': '<f4', 'shape': (1,)}", 4), /has no 'fortran_order' key/);
    await rejects(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (1,)}", 4), /duplicate key "shape"/);
    await rejects(npy("{'descr': '<f4', 'fortran_order': 1, 'shape': (1,)}", 4), /fortran_order is the integer 1, not True or False/);
  });

  it("shapes: a tuple of non-negative safe integers whose product the data holds", async () => {
    await rejects(npy(header("<f4", "(3)"), 12), /shape is the integer 3, not a tuple of integers \(a 1-d shape is written \(n,\)\)/);
    await rejects(npy(header("<f4", "[3]"), 12), /shape is a list of 1, not a tuple/);
    await rejects(npy(header("<f4", "(-1,)"), 4), /negative dimension -1/);
    await rejects(npy(header("<f4", "(True,)"), 4), /shape holds True, not an integer/);
    await rejects(npy(header("<f8", "(4294967296, 4294967296)"), 8), /too large: 18446744073709551616 elements of 8 bytes/);
    await rejects(npy(header("<f4", "(99999999999999999999,)"), 8), /dimension 99999999999999999999 is too large/);
    // A shape the file cannot hold: refused when opened, before any allocation.
    const err = await openCheckpoint(npy(header("<f4", "(1000000000, 1000)"), 16)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/\.npy data is truncated: float32 \[1000000000, 1000\] needs 4000000000000 bytes after the 128-byte header, 16 are there/);
  });

  it("data one byte short is truncated; one byte too many says so", async () => {
    await rejects(npy(header("<f4", "(2, 2)"), 15), /\.npy data is truncated: float32 \[2, 2\] needs 16 bytes after the 128-byte header, 15 are there/);
    await rejects(npy(header("<f4", "(2, 2)"), 17), /\.npy data is longer than its header says: .* 17 are there \(1 extra bytes\)/);
    expect(() => readNpy(npy(header("<f4", "(2,)"), 9))).toThrow(/1 extra bytes/);
  });

  it("header lengths: beyond the file, beyond the cap, and the preamble itself", async () => {
    const file = npy(header("<f4", "(1,)"), 4);
    new DataView(file.buffer).setUint16(8, 4000, true);
    await rejects(file, /\.npy header is truncated \(its length field says 4000 bytes, the file holds 122 after the preamble\)/);
    const huge = npy(header("<f4", "(1,)"), 4, { version: 2 });
    new DataView(huge.buffer).setUint32(8, 0xffffffff, true);
    await rejects(huge, new RegExp(`header length 4294967295 bytes exceeds the ${NPY_MAX_HEADER}-byte limit`));
    const v4 = npy(header("<f4", "(1,)"), 4);
    v4[6] = 4;
    await rejects(v4, /unsupported \.npy format version 4\.0 \(numpy writes 1\.0, 2\.0 and 3\.0\)/);
    const v11 = npy(header("<f4", "(1,)"), 4);
    v11[7] = 1;
    await rejects(v11, /format version 1\.1/);
    await rejects(npy(header("<f4", "(1,)"), 4).subarray(0, 9), /unrecognised file format|bad magic|too small/);
    await rejects(npy(header("<f4", "(1,)"), 4, { version: 2 }).subarray(0, 11), /truncated inside its 12-byte preamble/);
  });

  it("syntax: not a dict, garbage after it, NULs, bad UTF-8, escapes", async () => {
    await rejects(npy("[('descr', '<f4')]", 4), /unexpected "\[", expected '\{' \(a header is a dict literal\)/);
    await rejects(npy(header("<f4", "(1,)") + " __import__('os')", 4), /unexpected "_", expected nothing after the dict/);
    await rejects(npy(header("<f4", "(1,)") + "\0\0\0\0", 4, { pad: false }), /unexpected "\\u0000"/);
    const bad = npy(header("<f4", "(1,)"), 4, { version: 3 });
    bad[20] = 0xff;
    await rejects(bad, /version 3\.0 header is not valid UTF-8/);
    const escaped = npy("{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,)}", bytesOf(Float32Array.of(7)));
    expect(Array.from((await readAll(escaped)).arrays.get("arr_0")!.data as Float32Array)).toEqual([7]);
  });

  it("values from the file are cut to 200 characters in messages", async () => {
    const long = "x".repeat(10_000);
    const m1 = await rejects(npy(header(`<${long}`, "(1,)"), 4), /\(10001 characters\)/);
    expect(m1.length).toBeLessThan(400);
    const m2 = await rejects(npy(`{'${long}': 1, 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}`, 4), /unknown key/);
    expect(m2.length).toBeLessThan(400);
    const m3 = await rejects(npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), ${long}}`, 4), /unexpected name/);
    expect(m3.length).toBeLessThan(400);
  });

  it("bounded time on headers built to be slow: deep nesting, megabyte integers, a megabyte of padding", async () => {
    const t0 = performance.now();
    await rejects(npy(`{'descr': ${"[".repeat(60_000)}`, 0, { version: 2 }), /nested more than 32 levels deep/);
    await rejects(npy(header("<f4", `(${"9".repeat(500_000)},)`), 0, { version: 2 }), /500000-digit integer/);
    const padded = npy(header("<f4", "(1,)") + " ".repeat(NPY_MAX_HEADER - 200), bytesOf(Float32Array.of(1)), { version: 2 });
    expect((await readAll(padded)).arrays.get("arr_0")!.shape).toEqual([1]);
    const list = npy(`{'descr': [${"('a', '<f4'), ".repeat(60_000)}], 'fortran_order': False, 'shape': (1,)}`, 0, { version: 2 });
    await rejects(list, /structured dtype .* and 59995 more/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe("hostile .npz: structure decides, and every array name is kept", () => {
  const f4 = (n: number) => writeNpy({ dtype: "float32", shape: [n], data: new Float32Array(n).fill(1) });
  const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 1, offset: 0, shape: [1], stride: [1] }]]);

  it("an npz holding a */data.pkl entry is refused as mixed (it opened as a .pth with 0 tensors before)", async () => {
    const zip = writeZipStored([
      ["mu.npy", f4(3)],
      ["sigma.npy", f4(9)],
      ["archive/data.pkl", new Uint8Array([0x80, 2, 0x7d, 0x2e])],
    ]);
    await rejects(zip, /mixes a PyTorch pickle \("archive\/data\.pkl"\) with NumPy arrays \("mu\.npy", "sigma\.npy"\): neither a PyTorch checkpoint nor an \.npz/);
  });

  it("a torch checkpoint with an .npy array or a stray entry beside it is refused", async () => {
    const base: [string, Uint8Array][] = [
      ["archive/data.pkl", pkl],
      ["archive/byteorder", enc.encode("little")],
      ["archive/data/0", new Uint8Array(4)],
      ["archive/version", enc.encode("3\n")],
    ];
    await rejects(writeZipStored([...base, ["archive/data/x.npy", f4(1)]]), /mixes a PyTorch pickle/);
    await rejects(writeZipStored([...base, ["archive/evil.txt", new Uint8Array(1)]]), /entries torch\.save does not write: "archive\/evil\.txt"/);
    await rejects(writeZipStored([...base, ["other/data/1", new Uint8Array(1)]]), /does not write: "other\/data\/1"/);
    await rejects(writeZipStored([...base, ["second/data.pkl", pkl]]), /2 data\.pkl \("archive\/data\.pkl", "second\/data\.pkl"\): a PyTorch checkpoint has exactly one/);
    await rejects(writeZipStored([["a/b/data.pkl", pkl], ["a/b/data/0", new Uint8Array(4)]]), /"a\/b\/data\.pkl" is not in the archive's top folder/);
    // what torch 2.x writes besides: all accepted
    const modern = writeZipStored([
      ...base,
      ["archive/.format_version", enc.encode("1")],
      ["archive/.storage_alignment", enc.encode("64")],
      ["archive/.data/serialization_id", enc.encode("1234567890")],
    ]);
    const { store } = await readAll(modern);
    expect(store.format).toBe("pth");
    expect(store.keys()).toEqual(["w"]);
    expect((await readAll(torchZip("any-name", pkl, { "0": new Uint8Array(4) }))).store.format).toBe("pth");
  });

  it("an archive with arrays and other files, or with neither, names what it holds", async () => {
    await rejects(writeZipStored([["mu.npy", f4(1)], ["README.txt", enc.encode("hi")]]), /NumPy arrays \("mu\.npy"\) and other entries \("README\.txt"\): an \.npz holds only <key>\.npy arrays/);
    await rejects(writeZipStored([["hello.txt", enc.encode("hi")]]), /neither a PyTorch checkpoint nor an \.npz: it holds "hello\.txt"/);
    const many = writeZipStored(Array.from({ length: 50 }, (_, i) => [`f${i}.txt`, new Uint8Array(1)] as [string, Uint8Array]));
    const msg = await rejects(many, /"f0\.txt", "f1\.txt", "f2\.txt", "f3\.txt" and 46 more/);
    expect(msg.length).toBeLessThan(500);
    // openNpz called directly is as strict
    await expect(openNpz(new BufferSource(writeZipStored([["a.npy", f4(1)], ["b.bin", new Uint8Array(1)]])))).rejects.toThrow(
      /"b\.bin" is not an \.npy array/,
    );
  });

  it("zipLayout decides by structure", () => {
    const e = (name: string, size = 1) => ({ name, size }) as ZipEntry;
    expect(zipLayout("z", [e("a.npy"), e("dir/"), e("dir/b.npy")].map((x) => (x.name === "dir/" ? { ...x, size: 0 } : x)))).toBe("npz");
    expect(zipLayout("z", [e("t/data.pkl"), e("t/"), e("t/data/0"), e("t/version")].map((x) => (x.name === "t/" ? { ...x, size: 0 } : x)))).toBe("pth");
    expect(zipLayout("z", [e("data.pkl"), e("data/0")])).toBe("pth");
    expect(() => zipLayout("z", [])).toThrow(/it holds no files/);
  });

  it("arrays named __proto__, constructor and toString load under their names", async () => {
    const t = (v: number): HostTensor => ({ dtype: "int32", shape: [1], data: Int32Array.of(v) });
    const { store, arrays } = await readAll(writeNpz([["__proto__", t(1)], ["constructor", t(2)], ["toString", t(3)], ["hasOwnProperty", t(4)]]));
    expect(store.keys()).toEqual(["__proto__", "constructor", "toString", "hasOwnProperty"]);
    expect([...arrays].map(([k, v]) => [k, (v.data as Int32Array)[0]])).toEqual([
      ["__proto__", 1],
      ["constructor", 2],
      ["toString", 3],
      ["hasOwnProperty", 4],
    ]);
    expect(store.info("__proto__")).toEqual({ name: "__proto__", dtype: "int32", shape: [1] });
    expect(store.has("valueOf")).toBe(false);
    expect(Object.getPrototypeOf(store.metadata)).toBe(null);
  });

  it("a bad member is named in the message (cut to 200 characters)", async () => {
    const evil = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '|O'}", 16);
    await rejects(writeZipStored([["ok.npy", f4(1)], ["evil.npy", evil]]), /buffer: "evil\.npy": \.npy header is not a valid header literal: duplicate key "descr"/);
    const longName = `${"n".repeat(5000)}.npy`;
    const msg = await rejects(writeZipStored([[longName, evil]]), /\(5004 characters\)/);
    expect(msg.length).toBeLessThan(500);
  });

  it("an npz member with too little or too much data, or a header longer than the member", async () => {
    const one = f4(4);
    await rejects(writeZipStored([["short.npy", one.subarray(0, one.length - 1)]]), /"short\.npy": \.npy data is truncated: float32 \[4\] needs 16 bytes/);
    const extra = new Uint8Array(one.length + 3);
    extra.set(one);
    await rejects(writeZipStored([["long.npy", extra]]), /"long\.npy": \.npy data is longer than its header says.*3 extra bytes/);
    await rejects(writeZipStored([["cut.npy", one.subarray(0, 60)]]), /"cut\.npy": \.npy header is truncated \(its length field says 118 bytes, the array holds 50/);
    await rejects(writeZipStored([["tiny.npy", one.subarray(0, 5)]]), /"tiny\.npy": not a \.npy array \(bad magic\)/);
  });
});
