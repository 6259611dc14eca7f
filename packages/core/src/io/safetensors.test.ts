import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "./checkpoint.js";
import type { HostTensor } from "./dtype.js";
import { bytesOf } from "./fake-torch.testutil.js";
import { openSafetensors, writeSafetensors } from "./safetensors.js";
import { type ByteSource, BufferSource, CheckpointFormatError } from "./source.js";

const tiny = join(FIXTURES, "var-tiny");

/** A safetensors file from a header given as an object or as raw JSON text, then `dataLen` bytes. */
function file(header: object | string, dataLen: number, fill = 0): Uint8Array {
  const h = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataLen).fill(fill, 8 + h.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

async function rejects(label: string, input: Uint8Array | ByteSource, ...patterns: RegExp[]): Promise<string> {
  const source = input instanceof Uint8Array ? new BufferSource(input, "hostile.safetensors") : input;
  const t = performance.now();
  const err = await openSafetensors(source).then(
    async (s) => {
      for (const k of s.keys()) await s.read(k);
      return undefined;
    },
    (e: unknown) => e,
  );
  const msg = String((err as Error)?.message);
  console.log(`[safetensors] ${label}: ${(err as Error)?.name ?? "no error"} in ${(performance.now() - t).toFixed(1)} ms: ${msg}`);
  expect(err, `${label}: expected an error`).toBeInstanceOf(CheckpointFormatError);
  expect(msg).toContain(source.name);
  for (const p of patterns) expect(msg).toMatch(p);
  expect(msg.length).toBeLessThan(700);
  return msg;
}

const F32 = (shape: number[], begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] });

describe("safetensors: packed data", () => {
  it("overlapping tensors", () =>
    rejects("overlap", file({ a: F32([2], 0, 8), b: F32([2], 4, 12) }, 12), /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/));

  it("two tensors on the same bytes", () => rejects("same bytes", file({ a: F32([2], 0, 8), b: F32([2], 0, 8) }, 8), /"a" \[0, 8\] and "b" \[0, 8\] overlap|"b" \[0, 8\] and "a" \[0, 8\] overlap/));

  it("a gap between tensors", () =>
    rejects("gap", file({ a: F32([1], 0, 4), b: F32([1], 8, 12) }, 12), /4 bytes of the data section before tensor "b" \[8, 12\] belong to no tensor \(after "a", which ends at 4\)/, /packed/));

  it("data that does not start at 0", () => rejects("gap at the start", file({ a: F32([1], 4, 8) }, 8), /4 bytes of the data section before tensor "a" \[4, 8\] belong to no tensor/));

  it("bytes after the last tensor", () => rejects("trailing bytes", file({ a: F32([1], 0, 4) }, 12), /8 bytes after the last tensor, which ends at 4/));

  it("offsets in any order are fine when they tile the data", async () => {
    const s = await openSafetensors(new BufferSource(file({ b: F32([1], 4, 8), a: F32([1], 0, 4) }, 8)));
    expect(s.keys()).toEqual(["b", "a"]);
  });

  it("an offset past the data section", () => rejects("out of range", file({ w: F32([4], 0, 16) }, 8), /tensor "w" data_offsets \[0, 16\] are out of range \(data section has 8 bytes; truncated file\?\)/));
});

describe("safetensors: header values", () => {
  it("__metadata__ values that are not strings", async () => {
    await rejects("metadata number", file({ __metadata__: { epoch: 3 } }, 0), /__metadata__ value for "epoch" is 3, not a string/);
    await rejects("metadata object", file({ __metadata__: { cfg: { depth: 16 } } }, 0), /__metadata__ value for "cfg" is \{"depth":16\}, not a string/);
    await rejects("metadata array", file({ __metadata__: ["pt"] }, 0), /__metadata__ is \["pt"\], not an object of strings/);
    await rejects("metadata string", file({ __metadata__: "pt" }, 0), /__metadata__ is "pt", not an object of strings/);
    const ok = await openSafetensors(new BufferSource(file({ __metadata__: null }, 0)));
    expect(Object.keys(ok.metadata)).toEqual([]);
  });

  it("shape and dtype that do not match the byte length", async () => {
    await rejects("shape mismatch", file({ w: F32([4], 0, 8) }, 8), /tensor "w" byte range \[0, 8\] \(8 bytes\) does not match shape \[4\] of float32 \(16 bytes\)/);
    await rejects("dtype mismatch", file({ w: { dtype: "F64", shape: [1], data_offsets: [0, 4] } }, 4), /does not match shape \[1\] of float64 \(8 bytes\)/);
  });

  it("shape dims that are not safe non-negative integers", async () => {
    await rejects("fractional dim", file({ w: F32([1.5], 0, 6) }, 6), /tensor "w" has a malformed shape \[1\.5\]/);
    await rejects("negative dim", file({ w: F32([-1], 0, 4) }, 4), /malformed shape \[-1\]/);
    await rejects("unsafe dim", file('{"w":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,4]}}', 4), /malformed shape \[9007199254740992\]/);
    await rejects("string dim", file({ w: F32(["4"] as unknown as number[], 0, 16) }, 16), /malformed shape \["4"\]/);
    await rejects("shape not a list", file({ w: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, 16), /malformed shape 4/);
    await rejects("offsets reversed", file({ w: F32([0], 8, 0) }, 8), /malformed data_offsets \[8,0\]/);
    await rejects("offsets not integers", file({ w: F32([1], 0, 4.5) }, 8), /malformed data_offsets \[0,4\.5\]/);
  });

  it("shape products that overflow", async () => {
    await rejects("element count overflow", file({ w: F32([1 << 26, 1 << 26, 1 << 26], 0, 0) }, 0), /shape \[67108864, 67108864, 67108864\] has more elements than 2\^53 \(overflow\)/);
    await rejects("byte count overflow", file({ w: { dtype: "F64", shape: [2 ** 50], data_offsets: [0, 0] } }, 0), /of float64 has more bytes than 2\^53 \(overflow\)/);
    // A zero dimension makes any other dimension harmless.
    const s = await openSafetensors(new BufferSource(file({ w: F32([0, 2 ** 52], 0, 0) }, 0)));
    expect((await s.read("w")).data.length).toBe(0);
  });

  it("dtypes: unknown ones, and Object.prototype names", async () => {
    await rejects("unknown dtype", file({ w: { dtype: "C64", shape: [1], data_offsets: [0, 8] } }, 8), /tensor "w" has unsupported dtype "C64"/);
    await rejects("dtype constructor", file({ w: { dtype: "constructor", shape: [1], data_offsets: [0, 8] } }, 8), /unsupported dtype "constructor"/);
    await rejects("dtype object", file({ w: { dtype: { a: 1 }, shape: [1], data_offsets: [0, 8] } }, 8), /unsupported dtype \{"a":1\}/);
    await rejects("tensor entry not an object", file({ w: 1 }, 0), /tensor "w": its entry is 1, not an object/);
  });

  it("a key twice in the header (JSON.parse would keep the last)", async () => {
    await rejects("duplicate tensor", file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}', 4), /has the key "w" twice/);
    await rejects("duplicate metadata key", file('{"__metadata__":{"a":"1","a":"2"}}', 0), /has the key "a" twice/);
    await rejects("duplicate escaped key", file('{"\\u0077":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4), /has the key "w" twice/);
    // Equal keys in different objects are fine.
    const s = await openSafetensors(new BufferSource(file('{"__metadata__":{"w":"x"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)));
    expect(s.keys()).toEqual(["w"]);
    expect(s.metadata.w).toBe("x");
  });
});

describe("safetensors: the header itself", () => {
  const lengthOnly = (n: bigint, size: number): ByteSource => {
    // A large file without the memory: the length field, a '{', and zeros.
    const head = new Uint8Array(16);
    new DataView(head.buffer).setBigUint64(0, n, true);
    head[8] = 0x7b;
    return {
      name: "large.safetensors",
      size,
      read: async (offset, length) => {
        const out = new Uint8Array(length);
        if (offset < 16) out.set(head.subarray(offset, Math.min(16, offset + length)));
        return out;
      },
      close: async () => {},
    };
  };

  it("a 100 MiB header length in a 1 GB file: too large for the format, not truncated", async () => {
    const msg = await rejects("100 MiB header, 1 GB file", lengthOnly(100n << 20n, 1e9), /header length 104857600 exceeds the 100000000 bytes \(100 MB\) the format allows/);
    expect(msg).not.toMatch(/truncated|larger than the file/);
  });

  it("a huge header length in a small file: both causes named", () =>
    rejects("2^40 header, 16-byte file", lengthOnly(1n << 40n, 16), /exceeds the 100000000 bytes \(100 MB\) the format allows/, /also larger than the file's 16 bytes/));

  it("a 50 MB header length in a 1 KB file: truncated", async () => {
    const msg = await rejects("50 MB header, 1 KB file", lengthOnly(50_000_000n, 1024), /header length 50000000 exceeds the 1016 bytes that follow it \(truncated file\)/);
    expect(msg).not.toMatch(/100 MB/);
  });

  it("a header that does not start with '{', is not UTF-8, or is not JSON", async () => {
    await rejects("leading space", file(' {"w":1}', 0), /does not start with '\{'/);
    const bad = file('{"w":"\u00ff"}', 0);
    bad[bad.length - 3] = 0xff; // invalid UTF-8 byte inside the string
    await rejects("invalid UTF-8", bad, /not valid UTF-8/);
    await rejects("broken JSON", file('{"w":', 0), /not valid JSON/);
    await rejects("JSON array", file("[1]", 0), /does not start with '\{'/);
  });

  it("names from the file are cut to 200 characters in messages", async () => {
    const name = "x".repeat(100_000);
    const msg = await rejects("100,000-character name", file({ [name]: { dtype: "Q8", shape: [1], data_offsets: [0, 1] } }, 1), /\(100000 characters\)/);
    expect(msg.length).toBeLessThan(400);
    const longDtype = await rejects("100,000-character dtype", file({ w: { dtype: "Q".repeat(100_000), shape: [1], data_offsets: [0, 1] } }, 1));
    expect(longDtype.length).toBeLessThan(400);
    const longShape = await rejects("100,000-dimension shape", file({ w: F32(new Array(100_000).fill(2), 0, 4) }, 4), /\(100000 dimensions\)/);
    expect(longShape.length).toBeLessThan(400);
  });
});

describe("safetensors: names that are Object.prototype keys", () => {
  it("tensors named __proto__ and constructor load; metadata keys too", async () => {
    const tensors = new Map<string, HostTensor>([
      ["__proto__", { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) }],
      ["constructor", { dtype: "int32", shape: [1], data: new Int32Array([7]) }],
      ["toString", { dtype: "uint8", shape: [1], data: new Uint8Array([9]) }],
    ]);
    const bytes = writeSafetensors(tensors, JSON.parse('{"__proto__":"p","hasOwnProperty":"h"}'));
    const s = await openSafetensors(new BufferSource(bytes));
    expect(s.keys()).toEqual(["__proto__", "constructor", "toString"]);
    for (const [k, t] of tensors) expect(Array.from((await s.read(k)).data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    expect(Object.keys(s.metadata)).toEqual(["__proto__", "hasOwnProperty"]);
    expect(Object.getOwnPropertyDescriptor(s.metadata, "__proto__")?.value).toBe("p");
    expect(s.has("hasOwnProperty")).toBe(false);
    console.log(`[safetensors] keys ${s.keys().join(", ")}; metadata ${Object.keys(s.metadata).join(", ")}`);
  });

  it("the writer refuses a name given twice and metadata that is not a string", () => {
    const t: HostTensor = { dtype: "uint8", shape: [1], data: new Uint8Array([1]) };
    expect(() => writeSafetensors([["a", t], ["a", t]])).toThrow(/tensor "a" is given twice/);
    expect(() => writeSafetensors([["a", t]], { n: 1 as unknown as string })).toThrow(/metadata "n": the value must be a string/);
  });
});

describe("safetensors: valid files", () => {
  it("var.safetensors and io.safetensors pass every check and match what was written", async () => {
    for (const f of ["var.safetensors", "io.safetensors"]) {
      const bytes = new Uint8Array(readFileSync(join(tiny, f)));
      const store = await openCheckpoint(join(tiny, f));
      const tensors = new Map<string, HostTensor>();
      for (const k of store.keys()) tensors.set(k, await store.read(k));
      await store.close();
      // Writing them back gives a file the reader accepts, with the same bytes per tensor.
      const again = await openSafetensors(new BufferSource(writeSafetensors(tensors)));
      for (const [k, t] of tensors) {
        const u = await again.read(k);
        expect(Buffer.from(bytesOf(u.data)).equals(Buffer.from(bytesOf(t.data))), k).toBe(true);
      }
      console.log(`[safetensors] ${f}: ${tensors.size} tensors, ${bytes.length} bytes, packed and valid`);
    }
  });

  it("an empty file with no tensors", async () => {
    const s = await openSafetensors(new BufferSource(writeSafetensors([])));
    expect(s.keys()).toEqual([]);
  });
});
