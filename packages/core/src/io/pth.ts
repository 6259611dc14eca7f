/**
 * PyTorch `.pth` checkpoints in the zip format written by `torch.save`
 * since PyTorch 1.6 (the format of `vae_ch160v4096z32.pth` and
 * `var_d*.pth`): `<top>/data.pkl` (pickle), `<top>/data/<key>` storages,
 * optional `<top>/byteorder`. The pickle is read by the restricted
 * unpickler with a whitelist that only rebuilds tensors and containers.
 */
import { byteSwap, DTYPE_SIZE, type DType, gatherStrided, type HostTensor, numel, viewAs } from "./dtype.js";
import { PyDict, type PyCallable, PyTuple, unpickle } from "./pickle.js";
import { type ByteSource, CheckpointFormatError } from "./source.js";
import { missingKey, type TensorInfo, type TensorStore } from "./store.js";
import { type ZipEntry, ZipReader } from "./zip.js";

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

class StorageType {
  constructor(readonly dtype: DType) {}
}
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
  ) {}
}
/** A tensor as described by the pickle: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

const callable = (qualname: string, call: PyCallable["call"]): PyCallable => ({ qualname, call });

function intList(x: unknown, what: string): number[] {
  if (!Array.isArray(x) || !x.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 0)) {
    throw new CheckpointFormatError(`malformed tensor ${what}: ${String(x)}`);
  }
  return x as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new CheckpointFormatError("tensor rebuilt from something that is not a storage");
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
    throw new CheckpointFormatError("malformed tensor storage offset");
  }
  const shape = intList(size, "size");
  const st = intList(stride, "stride");
  if (st.length !== shape.length) throw new CheckpointFormatError("tensor size and stride differ in length");
  const n = numel(shape);
  let last = offset;
  for (let i = 0; i < shape.length; i++) if (shape[i] > 0) last += (shape[i] - 1) * st[i];
  if (n > 0 && last >= storage.numel) {
    throw new CheckpointFormatError(`tensor view (offset ${offset}, size [${shape}], stride [${st}]) exceeds its storage of ${storage.numel} elements`);
  }
  return new TensorRef(storage, offset, shape, st);
}

/** The only Python globals a checkpoint may name. Each maps to a pure JS function. */
const SAFE_GLOBALS: Record<string, PyCallable> = {
  "collections.OrderedDict": callable("collections.OrderedDict", () => new PyDict()),
  "builtins.dict": callable("builtins.dict", () => new PyDict()),
  "builtins.list": callable("builtins.list", (a) => (Array.isArray(a[0]) ? [...a[0]] : [])),
  "builtins.tuple": callable("builtins.tuple", (a) => Object.assign(new PyTuple(), Array.isArray(a[0]) ? a[0] : [])),
  "builtins.set": callable("builtins.set", (a) => new Set(Array.isArray(a[0]) ? a[0] : [])),
  "builtins.frozenset": callable("builtins.frozenset", (a) => new Set(Array.isArray(a[0]) ? a[0] : [])),
  "_codecs.encode": callable("_codecs.encode", (a) => {
    const s = String(a[0]);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
    return out;
  }),
  "torch._utils._rebuild_tensor": callable("torch._utils._rebuild_tensor", rebuildTensor),
  "torch._utils._rebuild_tensor_v2": callable("torch._utils._rebuild_tensor_v2", rebuildTensor),
  "torch._utils._rebuild_parameter": callable("torch._utils._rebuild_parameter", (a) => a[0]),
  "torch._utils._rebuild_parameter_with_state": callable("torch._utils._rebuild_parameter_with_state", (a) => a[0]),
  "torch._tensor._rebuild_from_type_v2": callable("torch._tensor._rebuild_from_type_v2", (a) => {
    const [fn, , args] = a;
    if (typeof (fn as PyCallable)?.call !== "function" || !Array.isArray(args)) {
      throw new CheckpointFormatError("malformed _rebuild_from_type_v2");
    }
    return (fn as PyCallable).call([...args]);
  }),
  "torch.nn.parameter.Parameter": callable("torch.nn.parameter.Parameter", (a) => a[0]),
  "torch.Tensor": callable("torch.Tensor", (a) => a[0]),
};
for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) {
  const t = new StorageType(dtype);
  SAFE_GLOBALS[`torch.${cls}`] = Object.assign(t, { qualname: `torch.${cls}`, call: () => t });
}

function findClass(module: string, name: string): PyCallable | undefined {
  return SAFE_GLOBALS[`${module}.${name}`];
}

/** Legacy (pre-1.6) torch.save files begin with this pickled magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8];

export async function openPth(source: ByteSource): Promise<TensorStore> {
  const head = await source.read(0, Math.min(source.size, 12));
  if (LEGACY_MAGIC.every((b, i) => head[i] === b)) {
    throw new CheckpointFormatError(
      `${source.name}: legacy torch.save format (PyTorch < 1.6) is not supported; re-save it with a newer PyTorch`,
    );
  }
  const zip = await ZipReader.open(source);
  const pkl = [...zip.entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k) || k === "data.pkl");
  if (!pkl) throw new CheckpointFormatError(`${source.name}: zip archive without data.pkl: not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  const order = zip.entries.get(`${prefix}byteorder`);
  const bigEndian = order ? new TextDecoder().decode(await zip.read(order)).trim() === "big" : false;

  const storages = new Map<string, StorageRef>();
  const root = unpickle(await zip.read(zip.entries.get(pkl)!), {
    name: `${source.name} (${pkl})`,
    findClass,
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel)
      if (!(pid instanceof PyTuple) || pid[0] !== "storage" || pid.length < 5) {
        throw new CheckpointFormatError(`${source.name}: unsupported persistent id ${String(pid)}`);
      }
      const [, type, key, , n] = pid;
      if (!(type instanceof StorageType)) throw new CheckpointFormatError(`${source.name}: unknown storage type`);
      if (typeof key !== "string" || typeof n !== "number") throw new CheckpointFormatError(`${source.name}: malformed storage id`);
      let ref = storages.get(key);
      if (!ref) {
        ref = new StorageRef(key, type.dtype, n);
        storages.set(key, ref);
      }
      return ref;
    },
  });

  const tensors = new Map<string, TensorRef>();
  const metadata: Record<string, unknown> = {};
  flatten(root, "", tensors, metadata);
  if (root instanceof PyDict && root.attrs._metadata !== undefined) metadata._metadata = root.attrs._metadata;

  for (const s of storages.values()) {
    const entry = zip.entries.get(`${prefix}data/${s.key}`);
    if (!entry) throw new CheckpointFormatError(`${source.name}: storage data/${s.key} is missing from the archive`);
    if (entry.size < s.numel * DTYPE_SIZE[s.dtype]) {
      throw new CheckpointFormatError(`${source.name}: storage data/${s.key} is shorter than its ${s.numel} elements`);
    }
  }
  return new PthStore(source, zip, prefix, tensors, metadata, bigEndian);
}

function flatten(v: unknown, prefix: string, out: Map<string, TensorRef>, meta: Record<string, unknown>): void {
  if (v instanceof TensorRef) {
    out.set(prefix, v);
  } else if (v instanceof PyDict) {
    for (const [k, x] of v) flatten(x, prefix ? `${prefix}.${String(k)}` : String(k), out, meta);
  } else if (Array.isArray(v) && v.some((x) => x instanceof TensorRef || x instanceof PyDict)) {
    for (let i = 0; i < v.length; i++) flatten(v[i], prefix ? `${prefix}.${i}` : String(i), out, meta);
  } else if (prefix) {
    meta[prefix] = v;
  }
}

class PthStore implements TensorStore {
  readonly format = "pth" as const;
  readonly name: string;
  constructor(
    private readonly source: ByteSource,
    private readonly zip: ZipReader,
    private readonly prefix: string,
    private readonly tensors: Map<string, TensorRef>,
    readonly metadata: Record<string, unknown>,
    private readonly bigEndian: boolean,
  ) {
    this.name = source.name;
  }
  keys(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  private ref(name: string): TensorRef {
    const r = this.tensors.get(name);
    if (!r) throw missingKey(this, name);
    return r;
  }
  info(name: string): TensorInfo {
    const r = this.ref(name);
    return { name, dtype: r.storage.dtype, shape: [...r.shape] };
  }
  /** Which storage a tensor views (tensors sharing storage share a key). */
  storageKey(name: string): string {
    return this.ref(name).storage.key;
  }
  async read(name: string): Promise<HostTensor> {
    const r = this.ref(name);
    const { dtype } = r.storage;
    const size = DTYPE_SIZE[dtype];
    const n = numel(r.shape);
    const entry = this.zip.entries.get(`${this.prefix}data/${r.storage.key}`) as ZipEntry;
    // Read only the span of the storage this view touches.
    let span = n > 0 ? 1 : 0;
    for (let i = 0; i < r.shape.length; i++) if (r.shape[i] > 0) span += (r.shape[i] - 1) * r.stride[i];
    const raw = await this.zip.readRange(entry, r.offset * size, span * size);
    const bytes = this.bigEndian || raw.byteOffset % size ? raw.slice() : raw;
    if (this.bigEndian) byteSwap(bytes, size);
    const src = viewAs(dtype, bytes);
    if (isContiguous(r.shape, r.stride)) return { dtype, shape: [...r.shape], data: src };
    return { dtype, shape: [...r.shape], data: gatherStrided(src, r.shape, r.stride) };
  }
  async close(): Promise<void> {
    await this.source.close();
  }
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}
