/**
 * NumPy `.npy` and `.npz` (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * what OpenAI's reference batches (`VIRTUAL_imagenet256_labeled.npz`) and
 * our own statistics files use. Fortran-ordered arrays are transposed to
 * row-major on read. Object arrays (pickles) are refused.
 */
import { byteSwap, DTYPE_SIZE, type DType, gatherStrided, type HostTensor, numel, viewAs } from "./dtype.js";
import { type ByteSource, CheckpointFormatError } from "./source.js";
import { missingKey, type TensorInfo, type TensorStore } from "./store.js";
import { writeZipStored } from "./zip-write.js";
import { ZipReader } from "./zip.js";

const DESCR: Record<string, DType> = {
  f8: "float64",
  f4: "float32",
  f2: "float16",
  i8: "int64",
  i4: "int32",
  i2: "int16",
  i1: "int8",
  u1: "uint8",
  b1: "bool",
};

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyHeader {
  dtype: DType;
  shape: number[];
  fortran: boolean;
  bigEndian: boolean;
  dataOffset: number;
}

export function parseNpyHeader(bytes: Uint8Array, name: string): NpyHeader {
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new CheckpointFormatError(`${name}: not a .npy array (bad magic)`);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hl = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + hl > bytes.length) throw new CheckpointFormatError(`${name}: .npy header is truncated`);
  const text = new TextDecoder("latin1").decode(bytes.subarray(start, start + hl));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new CheckpointFormatError(`${name}: unsupported .npy header ${JSON.stringify(text.trim())}`);
  }
  const dtype = DESCR[descr[2]];
  if (!dtype) throw new CheckpointFormatError(`${name}: unsupported .npy dtype ${descr[1]}${descr[2]} (object arrays are refused)`);
  const dims = shape[1]
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map((s) => Number(s.replace(/L$/, "")));
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointFormatError(`${name}: bad .npy shape`);
  return { dtype, shape: dims, fortran: fortran[1] === "True", bigEndian: descr[1] === ">", dataOffset: start + hl };
}

function decodeNpyData(h: NpyHeader, data: Uint8Array, name: string): HostTensor {
  const size = DTYPE_SIZE[h.dtype];
  const len = numel(h.shape) * size;
  if (data.byteLength < len) throw new CheckpointFormatError(`${name}: .npy data is truncated (${data.byteLength} of ${len} bytes)`);
  let bytes = data.subarray(0, len);
  if (h.bigEndian || bytes.byteOffset % size) bytes = bytes.slice();
  if (h.bigEndian) byteSwap(bytes, size);
  let arr = viewAs(h.dtype, bytes);
  if (h.fortran && h.shape.length > 1) {
    // Fortran order is the strided view with strides 1, d0, d0·d1, …
    const stride: number[] = [];
    let s = 1;
    for (const d of h.shape) {
      stride.push(s);
      s *= d;
    }
    arr = gatherStrided(arr, h.shape, stride);
  }
  return { dtype: h.dtype, shape: h.shape, data: arr };
}

/** Parse a whole `.npy` file. */
export function readNpy(bytes: Uint8Array, name = "npy"): HostTensor {
  const h = parseNpyHeader(bytes, name);
  return decodeNpyData(h, bytes.subarray(h.dataOffset), name);
}

const TO_DESCR = Object.fromEntries(Object.entries(DESCR).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Serialise one array as `.npy` (version 1.0, little-endian, C order). */
export function writeNpy(t: HostTensor): Uint8Array {
  if (t.dtype === "bfloat16") throw new Error(".npy has no bfloat16 type");
  const e = DTYPE_SIZE[t.dtype] === 1 ? "|" : "<";
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${e}${TO_DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(10 + hb.length + t.data.byteLength);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, hb.length, true);
  out.set(hb, 10);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), 10 + hb.length);
  return out;
}

/** Serialise arrays as an (uncompressed) `.npz`, readable by `numpy.load`. */
export function writeNpz(arrays: Iterable<[string, HostTensor]>): Uint8Array {
  return writeZipStored([...arrays].map(([k, t]) => [`${k}.npy`, writeNpy(t)] as [string, Uint8Array]));
}

export async function openNpz(source: ByteSource): Promise<TensorStore> {
  const zip = await ZipReader.open(source);
  const entries = new Map<string, { entry: import("./zip.js").ZipEntry; header: NpyHeader }>();
  for (const [k, entry] of zip.entries) {
    if (!k.endsWith(".npy")) continue;
    // Headers are small; read just enough to parse one (stored) or the whole entry (deflated).
    const head = entry.method === 0 ? await zip.readRange(entry, 0, Math.min(entry.size, 4096)) : await zip.read(entry);
    entries.set(k.slice(0, -4), { entry, header: parseNpyHeader(head, `${source.name}:${k}`) });
  }
  if (entries.size === 0) throw new CheckpointFormatError(`${source.name}: zip archive without .npy arrays: not an .npz file`);
  const store: TensorStore = {
    format: "npz",
    name: source.name,
    metadata: {},
    keys: () => [...entries.keys()],
    has: (n) => entries.has(n),
    info(n): TensorInfo {
      const e = entries.get(n);
      if (!e) throw missingKey(store, n);
      return { name: n, dtype: e.header.dtype, shape: [...e.header.shape] };
    },
    async read(n) {
      const e = entries.get(n);
      if (!e) throw missingKey(store, n);
      const len = numel(e.header.shape) * DTYPE_SIZE[e.header.dtype];
      const data =
        e.entry.method === 0
          ? await zip.readRange(e.entry, e.header.dataOffset, len)
          : (await zip.read(e.entry)).subarray(e.header.dataOffset);
      return decodeNpyData(e.header, data, `${source.name}:${n}`);
    },
    close: () => source.close(),
  };
  return store;
}

export async function openNpy(source: ByteSource): Promise<TensorStore> {
  const head = await source.read(0, Math.min(source.size, 4096));
  const h = parseNpyHeader(head, source.name);
  const key = "arr_0";
  const store: TensorStore = {
    format: "npy",
    name: source.name,
    metadata: {},
    keys: () => [key],
    has: (n) => n === key,
    info(n) {
      if (n !== key) throw missingKey(store, n);
      return { name: key, dtype: h.dtype, shape: [...h.shape] };
    },
    async read(n) {
      if (n !== key) throw missingKey(store, n);
      const len = numel(h.shape) * DTYPE_SIZE[h.dtype];
      if (h.dataOffset + len > source.size) throw new CheckpointFormatError(`${source.name}: .npy data is truncated`);
      return decodeNpyData(h, await source.read(h.dataOffset, len), source.name);
    },
    close: () => source.close(),
  };
  return store;
}

