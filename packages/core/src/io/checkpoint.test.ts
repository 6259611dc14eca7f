import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, referenceBundles } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { inspectCheckpoint } from "../info.js";
import { openCheckpoint } from "./checkpoint.js";
import { type HostTensor, toFloat32, toInt32 } from "./dtype.js";
import { bytesOf, torchStatePickle, torchZip } from "./fake-torch.testutil.js";
import { readNpy, writeNpy, writeNpz } from "./npy.js";
import { CheckpointFormatError } from "./source.js";
import { writeSafetensors } from "./safetensors.js";
import { writeZipStored } from "./zip-write.js";

const tiny = join(FIXTURES, "var-tiny");

async function readAll(input: string | Uint8Array): Promise<Map<string, HostTensor>> {
  const store = await openCheckpoint(input);
  const out = new Map<string, HostTensor>();
  for (const k of store.keys()) out.set(k, await store.read(k));
  await store.close();
  return out;
}

function sameBits(a: HostTensor, b: HostTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  return Buffer.compare(Buffer.from(bytesOf(a.data)), Buffer.from(bytesOf(b.data))) === 0;
}

describe("fixture checkpoints", () => {
  it("var.pth equals var.safetensors bit for bit, every tensor", async () => {
    const pth = await readAll(join(tiny, "var.pth"));
    const st = await readAll(join(tiny, "var.safetensors"));
    expect([...pth.keys()].sort()).toEqual([...st.keys()].sort());
    let bitwise = 0;
    for (const [k, t] of pth) {
      const s = st.get(k)!;
      if (t.dtype === s.dtype) {
        expect(sameBits(t, s), k).toBe(true);
        bitwise++;
      } else {
        // The fixture stores the int64 buffer lvl_1L as int32 in safetensors: same values, other width.
        expect([t.dtype, s.dtype].sort(), k).toEqual(["int32", "int64"]);
        expect(t.shape, k).toEqual(s.shape);
        expect(Array.from(toInt32(t)), k).toEqual(Array.from(toInt32(s)));
        console.log(`${k}: ${t.dtype} in .pth, ${s.dtype} in .safetensors; values identical`);
      }
    }
    console.log(`var.pth vs var.safetensors: ${bitwise} of ${pth.size} tensors bit-identical, the rest equal in value`);
  });

  for (const b of referenceBundles().filter((b) => b.has("vae.pth") && b.has("var.pth"))) {
    it(`${b.name}: vae.pth and var.pth load with the meta.json configuration`, async () => {
      const vae = await openCheckpoint(b.file("vae.pth"));
      const s = inspectCheckpoint(vae);
      expect(s.kind).toBe("vae");
      expect(vae.info("quantize.embedding.weight").shape).toEqual([b.meta.vqvae.vocab_size, b.meta.vqvae.z_channels]);
      const conv = await vae.read("encoder.conv_in.weight");
      expect(conv.dtype).toBe("float32");
      expect(conv.shape).toEqual([b.meta.vqvae.ch, 3, 3, 3]);
      expect(toFloat32(conv).every(Number.isFinite)).toBe(true);
      await vae.close();
      const v = await openCheckpoint(b.file("var.pth"));
      expect(inspectCheckpoint(v).kind).toBe("var");
      expect(v.info("class_emb.weight").shape).toEqual([b.meta.var.num_classes + 1, b.meta.var.embed_dim]);
      await v.close();
    });
  }
});

describe("safetensors", () => {
  it("round trip: write, read back, identical (all dtypes, metadata)", async () => {
    const tensors = new Map<string, HostTensor>([
      ["a.weight", { dtype: "float32", shape: [2, 3], data: new Float32Array([1, -2, 3.5, 4, 5e-8, Number.NaN]) }],
      ["b", { dtype: "int64", shape: [3], data: new BigInt64Array([1n, -2n, 9007199254740993n]) }],
      ["c", { dtype: "float16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
      ["d", { dtype: "bool", shape: [2, 1], data: new Uint8Array([1, 0]) }],
      ["e", { dtype: "int32", shape: [], data: new Int32Array([7]) }],
      ["f", { dtype: "bfloat16", shape: [1], data: new Uint16Array([0x3f80]) }],
    ]);
    const bytes = writeSafetensors(tensors, { format: "pt" });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const store = await openCheckpoint(bytes);
    expect(store.format).toBe("safetensors");
    expect(store.metadata).toEqual({ format: "pt" });
    for (const [k, t] of tensors) expect(sameBits(await store.read(k), t), k).toBe(true);
    expect(toFloat32(await store.read("c"))).toEqual(new Float32Array([1, -2]));
    expect(toFloat32(await store.read("f"))).toEqual(new Float32Array([1]));
  });

  it("the fixture's var tensors survive a rewrite unchanged", async () => {
    const src = await readAll(join(tiny, "var.pth"));
    const back = await readAll(writeSafetensors(src));
    for (const [k, t] of src) expect(sameBits(back.get(k)!, t), k).toBe(true);
  });
});

describe("pth reader: the torch.save format in full", () => {
  it("strides, storage offsets, shared storages, dtypes and any top folder", async () => {
    // storage "0": 12 floats shared by a transposed view and an offset slice
    const s0 = new Float32Array(12).map((_, i) => i);
    const s1 = new BigInt64Array([5n, -6n, 7n]);
    const s2 = new Uint16Array([0x3c00, 0x4000]); // half 1, 2
    const s3 = new Uint8Array([1, 0, 1]);
    const pkl = torchStatePickle([
      ["t.contig", { storage: "0", storageType: "FloatStorage", storageNumel: 12, offset: 0, shape: [3, 4], stride: [4, 1] }],
      ["t.transposed", { storage: "0", storageType: "FloatStorage", storageNumel: 12, offset: 0, shape: [4, 3], stride: [1, 4] }],
      ["t.offset", { storage: "0", storageType: "FloatStorage", storageNumel: 12, offset: 5, shape: [2, 2], stride: [4, 1] }],
      ["t.long", { storage: "1", storageType: "LongStorage", storageNumel: 3, offset: 0, shape: [3], stride: [1] }],
      ["t.half", { storage: "2", storageType: "HalfStorage", storageNumel: 2, offset: 0, shape: [2], stride: [1] }],
      ["t.bool", { storage: "3", storageType: "BoolStorage", storageNumel: 3, offset: 1, shape: [2], stride: [1] }],
    ]);
    const zip = torchZip("some_model-v2", pkl, { "0": bytesOf(s0), "1": bytesOf(s1), "2": bytesOf(s2), "3": s3 });
    const store = await openCheckpoint(zip);
    expect(store.format).toBe("pth");
    expect(Array.from(toFloat32(await store.read("t.transposed")))).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(toFloat32(await store.read("t.offset")))).toEqual([5, 6, 9, 10]);
    expect(Array.from(toFloat32(await store.read("t.contig")))).toEqual(Array.from(s0));
    expect(Array.from((await store.read("t.long")).data as BigInt64Array)).toEqual([5n, -6n, 7n]);
    expect(Array.from(toFloat32(await store.read("t.half")))).toEqual([1, 2]);
    const b = await store.read("t.bool");
    expect(b.dtype).toBe("bool");
    expect(Array.from(b.data as Uint8Array)).toEqual([0, 1]);
  });

  it("big-endian storages are byte-swapped", async () => {
    const be = new Uint8Array([0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]); // 1.0, -2.0 big-endian
    const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 2, offset: 0, shape: [2], stride: [1] }]]);
    const store = await openCheckpoint(torchZip("archive", pkl, { "0": be }, "big"));
    expect(Array.from(toFloat32(await store.read("w")))).toEqual([1, -2]);
  });
});

describe("npy / npz", () => {
  it("npz round trip, and a Fortran-ordered npy", async () => {
    const mu = { dtype: "float64" as const, shape: [3], data: new Float64Array([1, 2, 3]) };
    const sigma = { dtype: "float64" as const, shape: [2, 2], data: new Float64Array([1, 0.5, 0.5, 2]) };
    const store = await openCheckpoint(writeNpz([["mu", mu], ["sigma", sigma]]));
    expect(store.format).toBe("npz");
    expect(Array.from((await store.read("sigma")).data as Float64Array)).toEqual([1, 0.5, 0.5, 2]);
    // A Fortran-order 2x3 array holding [[0,1,2],[3,4,5]] is stored column-major: 0,3,1,4,2,5.
    const f = writeNpy({ dtype: "int32", shape: [2, 3], data: new Int32Array([0, 3, 1, 4, 2, 5]) });
    const patched = new TextDecoder("latin1").decode(f).replace("'fortran_order': False", "'fortran_order': True ");
    const bytes = Uint8Array.from(patched, (c) => c.charCodeAt(0));
    expect(Array.from(readNpy(bytes).data as Int32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe("bad input: clear errors, never a crash or a hang", () => {
  const pthBytes = new Uint8Array(readFileSync(join(tiny, "var.pth")));

  const rejects = async (input: Uint8Array | string, pattern: RegExp) => {
    const err = await openAndReadAll(input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, "expected an error").toBeInstanceOf(CheckpointFormatError);
    expect(String((err as Error).message)).toMatch(pattern);
  };
  const openAndReadAll = async (input: Uint8Array | string) => {
    const s = await openCheckpoint(input);
    for (const k of s.keys()) await s.read(k);
  };

  it("empty file", () => rejects(new Uint8Array(0), /empty file/));
  it("wrong magic", () => rejects(new TextEncoder().encode("GIF89a not a checkpoint at all"), /unrecognised file format/));
  it("missing file", () => rejects("/nonexistent/model.pth", /no such file/));
  it("truncated zip (half of var.pth)", () => rejects(pthBytes.subarray(0, pthBytes.length >> 1), /truncated|corrupt|end-of-central/));
  it("truncated zip (last byte missing)", () => rejects(pthBytes.subarray(0, pthBytes.length - 1), /truncated|corrupt|end-of-central/));

  it("corrupted pickle (garbage opcode)", async () => {
    const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 1, offset: 0, shape: [1], stride: [1] }]]);
    pkl[pkl.length - 2] = 0xff; // replace SETITEMS with an invalid opcode
    await rejects(torchZip("a", pkl, { "0": new Uint8Array(4) }), /unsupported or corrupt opcode 0xff/);
  });

  it("corrupted pickle (cut short)", async () => {
    const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 1, offset: 0, shape: [1], stride: [1] }]]);
    await rejects(torchZip("a", pkl.subarray(0, 40), { "0": new Uint8Array(4) }), /truncated|underflow|MARK/);
  });

  it("a pickle that calls os.system is refused, and nothing runs", async () => {
    // c posix system / (S'touch /tmp/pwned' / tR.
    const evil = new Uint8Array([
      0x80, 2, ...new TextEncoder().encode("cposix\nsystem\n"), 0x58, 16, 0, 0, 0,
      ...new TextEncoder().encode("echo pwned >&2  "), 0x85, 0x52, 0x2e,
    ]);
    await rejects(torchZip("archive", evil, {}), /refusing to load global "posix\.system"/);
    const builtinsEval = new Uint8Array([0x80, 2, ...new TextEncoder().encode("cbuiltins\neval\n"), 0x2e]);
    await rejects(torchZip("archive", builtinsEval, {}), /refusing to load global "builtins\.eval"/);
  });

  it("a tensor whose view exceeds its storage", async () => {
    const pkl = torchStatePickle([["w", { storage: "0", storageType: "FloatStorage", storageNumel: 4, offset: 2, shape: [4], stride: [1] }]]);
    await rejects(torchZip("a", pkl, { "0": new Uint8Array(16) }), /exceeds its storage/);
  });

  it("a storage missing from the archive", async () => {
    const pkl = torchStatePickle([["w", { storage: "7", storageType: "FloatStorage", storageNumel: 1, offset: 0, shape: [1], stride: [1] }]]);
    await rejects(torchZip("a", pkl, {}), /storage data\/7 is missing/);
  });

  it("a zip that is not a checkpoint", () => rejects(writeZipStored([["hello.txt", new Uint8Array([104, 105])]]), /neither a PyTorch checkpoint nor an \.npz/));

  const safetensors = (header: object, dataLen: number) => {
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.length + dataLen);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  it("safetensors with an out-of-range offset", () =>
    rejects(safetensors({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8), /out of range/));
  it("safetensors whose offsets disagree with the shape", () =>
    rejects(safetensors({ w: { dtype: "F32", shape: [4], data_offsets: [0, 8] } }, 8), /does not match shape/));
  it("safetensors with a header length beyond the file", async () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
    b[8] = 0x7b;
    await rejects(b, /header length .* exceeds/);
  });
  it("safetensors with a broken JSON header", () => {
    const b = safetensors({ w: 1 }, 0);
    b[b.length - 1] = 0x2c; // replace the closing brace
    return rejects(b, /not valid JSON/);
  });
  it("safetensors with an unknown dtype", () =>
    rejects(safetensors({ w: { dtype: "C64", shape: [1], data_offsets: [0, 8] } }, 8), /unsupported dtype/));
});
