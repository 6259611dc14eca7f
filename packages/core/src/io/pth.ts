/**
 * PyTorch `.pth` checkpoints in the zip format written by `torch.save`
 * since PyTorch 1.6 (the format of `vae_ch160v4096z32.pth` and
 * `var_d*.pth`): `<top>/data.pkl` (pickle), `<top>/data/<key>` storages,
 * optional `<top>/byteorder`. The pickle is read by the restricted
 * unpickler with a whitelist that only rebuilds tensors and containers.
 *
 * Hostile files: every size, stride and offset is checked as an exact
 * integer against its storage, a view may not materialise far more
 * elements than its storage holds (stride-0 views), the tree of
 * containers is walked iteratively with a bound on depth, on visits (shared
 * containers) and on tensors, cycles are refused, and names become keys
 * only in `Map`s and null-prototype objects.
 */
import { byteSwap, DTYPE_SIZE, type DType, gatherStrided, type HostTensor, numel, viewAs } from "./dtype.js";
import { PyDict, type PyCallable, PyTuple, renderValue, unpickle } from "./pickle.js";
import { type ByteSource, CheckpointFormatError, quoted } from "./source.js";
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

/** Most dimensions a tensor may have (PyTorch's own limit is 64). */
const MAX_RANK = 64;
/**
 * A view may materialise at most this many times its storage's elements
 * (plus `VIEW_SLACK`): more means stride-0 broadcasting, which a checkpoint
 * of weights does not need and which would turn a small file into a huge
 * allocation.
 */
const VIEW_FACTOR = 16;
const VIEW_SLACK = 1 << 16;
/** Most tensors a checkpoint may hold, and most containers the walk of its tree may visit per byte of pickle. */
const MAX_TENSORS = 1_000_000;
const VISITS_PER_BYTE = 4;
/** Deepest nesting of containers walked (a state dict is one or two levels deep). */
const MAX_DEPTH = 256;

function intList(x: unknown, what: string): number[] {
  const ok = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(x) || x.length > MAX_RANK || !x.every(ok)) {
    throw new CheckpointFormatError(`malformed tensor ${what}: ${renderValue(x)} (expected at most ${MAX_RANK} non-negative integers)`);
  }
  return x as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new CheckpointFormatError(`tensor rebuilt from something that is not a storage: ${renderValue(storage)}`);
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    throw new CheckpointFormatError(`malformed tensor storage offset ${renderValue(offset)}`);
  }
  const shape = intList(size, "size");
  const st = intList(stride, "stride");
  if (st.length !== shape.length) throw new CheckpointFormatError(`tensor size [${shape}] and stride [${st}] differ in length`);
  const n = numel(shape);
  let last = offset;
  for (let i = 0; i < shape.length; i++) if (shape[i] > 0) last += (shape[i] - 1) * st[i];
  const where = `tensor view (offset ${offset}, size [${shape}], stride [${st}])`;
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(last)) throw new CheckpointFormatError(`${where}: sizes overflow`);
  if (n > 0 && last >= storage.numel) {
    throw new CheckpointFormatError(`${where} exceeds its storage ${storage.key} of ${storage.numel} elements`);
  }
  if (n > VIEW_FACTOR * storage.numel + VIEW_SLACK) {
    throw new CheckpointFormatError(
      `${where} would materialise ${n} elements from storage ${storage.key} of ${storage.numel} (a stride-0 view): refused`,
    );
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
    // torch.save writes bytes as _codecs.encode(str, "latin1"): a string argument, nothing else
    if (typeof a[0] !== "string") throw new CheckpointFormatError(`_codecs.encode of ${renderValue(a[0])}, not a string`);
    const s = a[0];
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
        throw new CheckpointFormatError(`${source.name}: unsupported persistent id ${renderValue(pid)}`);
      }
      const [, type, key, , n] = pid;
      if (!(type instanceof StorageType)) throw new CheckpointFormatError(`${source.name}: unknown storage type ${renderValue(type)}`);
      if (typeof key !== "string" || !/^[\w.-]{1,128}$/.test(key)) {
        throw new CheckpointFormatError(`${source.name}: malformed storage key ${renderValue(key)}`);
      }
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
        throw new CheckpointFormatError(`${source.name}: storage ${key} has a malformed element count ${renderValue(n)}`);
      }
      let ref = storages.get(key);
      if (!ref) {
        ref = new StorageRef(key, type.dtype, n);
        storages.set(key, ref);
      } else if (ref.dtype !== type.dtype || ref.numel !== n) {
        throw new CheckpointFormatError(`${source.name}: storage ${key} is declared twice, as ${ref.numel} ${ref.dtype} and as ${n} ${type.dtype}`);
      }
      return ref;
    },
  });

  const tensors = new Map<string, TensorRef>();
  const metadata: Record<string, unknown> = Object.create(null);
  flatten(root, tensors, metadata, VISITS_PER_BYTE * zip.entries.get(pkl)!.size + 1024, `${source.name} (${pkl})`);
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

/**
 * A non-tensor leaf as metadata: kept as it is when it is small and shallow
 * (at most 10,000 values, 32 levels, no cycle), else replaced by a short
 * description, so that printing or serialising metadata stays cheap.
 */
function metadataValue(v: unknown): unknown {
  if (!(v instanceof Map || v instanceof Set || Array.isArray(v))) return v;
  const pending: [unknown, number][] = [[v, 0]];
  const seen = new Set<unknown>();
  let count = 0;
  while (pending.length) {
    const [x, depth] = pending.pop()!;
    if (!(x instanceof Map || x instanceof Set || Array.isArray(x))) continue;
    count += 1 + (x instanceof Map || x instanceof Set ? x.size : x.length);
    if (seen.has(x) || depth > 32 || count > 10_000) {
      return `(omitted: ${renderValue(v, 120)})`;
    }
    seen.add(x);
    for (const y of x instanceof Map ? [...x.keys(), ...x.values()] : x) pending.push([y, depth + 1]);
  }
  return v;
}

/**
 * The tensors of the unpickled tree by dotted name (`blocks.3.attn.proj.weight`;
 * list items by index), and its other leaves as metadata. Walked
 * iteratively: at most `maxVisits` containers (a container shared through
 * the memo counts each time it is reached), `MAX_DEPTH` levels and
 * `MAX_TENSORS` tensors; a container inside itself is refused, and so are
 * tensors where no name can reach them (in a set, as a dict key). Lists and
 * tuples are walked when they hold a tensor anywhere below them; otherwise
 * they are metadata values.
 */
function flatten(root: unknown, out: Map<string, TensorRef>, meta: Record<string, unknown>, maxVisits: number, where: string): void {
  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`${where}: ${msg}`);
  };
  let visits = 0;
  const visit = () => {
    if (++visits > maxVisits) fail("its containers are shared or nested more than its size can describe (refused)");
  };
  const isContainer = (x: unknown): x is Map<unknown, unknown> | Set<unknown> | unknown[] =>
    x instanceof Map || x instanceof Set || Array.isArray(x);
  const children = (x: Map<unknown, unknown> | Set<unknown> | unknown[]): Iterable<unknown> =>
    x instanceof Map ? [...x.keys(), ...x.values()] : x;
  const holds = new Map<object, boolean>();
  /** Whether a tensor lies anywhere below `v`: post-order, iterative, memoised (cycles count as no tensor here). */
  const hasTensor = (v: unknown): boolean => {
    if (v instanceof TensorRef) return true;
    if (!isContainer(v)) return false;
    // post-order without a tuple per node: a container is pushed twice, the second time after a `null` marker
    const pending: (Map<unknown, unknown> | Set<unknown> | unknown[] | null)[] = [v];
    while (pending.length) {
      let x = pending.pop()!;
      if (x === null) {
        x = pending.pop()!;
        let any = false;
        for (const y of children(x!)) if (y instanceof TensorRef || (isContainer(y) && holds.get(y))) any = true;
        holds.set(x!, any);
        continue;
      }
      if (holds.has(x)) continue;
      visit();
      holds.set(x, false);
      pending.push(x, null);
      for (const y of children(x)) if (isContainer(y) && !holds.has(y)) pending.push(y);
    }
    return holds.get(v)!;
  };

  // Depth-first in the file's order, one frame per open container (its children are taken one at a
  // time, so a container of 3e5 items costs no list of 3e5 pending entries), the path one Set.
  interface Frame {
    c: PyDict | unknown[];
    prefix: string;
    depth: number;
    i: number;
    entries: Iterator<[unknown, unknown]> | null;
  }
  const frames: Frame[] = [];
  const path = new Set<object>();
  const name = (prefix: string) => quoted(prefix || "the root");
  const claim = (prefix: string) => {
    if (out.has(prefix) || Object.hasOwn(meta, prefix)) fail(`two values have the same name ${name(prefix)} (e.g. "a.b" and "a": {"b"}): refused, one would be lost`);
  };
  const handle = (v: unknown, prefix: string, depth: number) => {
    if (v instanceof TensorRef) {
      claim(prefix);
      if (out.size >= MAX_TENSORS) fail(`more than ${MAX_TENSORS} tensors (refused)`);
      out.set(prefix, v);
      return;
    }
    if (!(v instanceof PyDict || (Array.isArray(v) && hasTensor(v)))) {
      if (v instanceof Set && hasTensor(v)) fail(`${name(prefix)} is a set holding tensors, which have no names there`);
      if (prefix) {
        claim(prefix);
        meta[prefix] = metadataValue(v);
      }
      return;
    }
    const c = v as PyDict | unknown[];
    if (path.has(c)) fail(`${name(prefix)} contains itself (a cycle): refused`);
    if (depth >= MAX_DEPTH) fail(`containers nested more than ${MAX_DEPTH} deep at ${quoted(prefix)}`);
    visit();
    path.add(c);
    frames.push({ c, prefix, depth, i: 0, entries: c instanceof PyDict ? c.entries() : null });
  };
  handle(root, "", 0);
  while (frames.length) {
    const f = frames[frames.length - 1];
    let child: unknown;
    let key: string | number;
    if (f.entries) {
      const next = f.entries.next();
      if (next.done) {
        frames.pop();
        path.delete(f.c);
        continue;
      }
      const [k, x] = next.value;
      if (typeof k !== "string" && !(typeof k === "number" && Number.isSafeInteger(k))) {
        if (k instanceof TensorRef || hasTensor(k)) fail(`a tensor used as a dict key in ${name(f.prefix)}`);
        fail(`a dict key that is not a string or an integer in ${name(f.prefix)}: ${renderValue(k)}`);
      }
      [child, key] = [x, k as string | number];
    } else {
      const arr = f.c as unknown[];
      if (f.i >= arr.length) {
        frames.pop();
        path.delete(f.c);
        continue;
      }
      [child, key] = [arr[f.i], f.i];
      f.i++;
    }
    handle(child, f.prefix ? `${f.prefix}.${key}` : String(key), f.depth + 1);
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
    // The whole storage entry, so that the zip reader checks its CRC-32, then the span this view touches.
    let span = n > 0 ? 1 : 0;
    if (n > 0) for (let i = 0; i < r.shape.length; i++) span += (r.shape[i] - 1) * r.stride[i];
    const storage = await this.storageBytes(entry);
    if (storage.byteLength < (r.offset + span) * size) {
      throw new CheckpointFormatError(`${this.name}: tensor ${name} reads past its storage data/${r.storage.key} (${storage.byteLength} bytes)`);
    }
    const raw = storage.subarray(r.offset * size, (r.offset + span) * size);
    const bytes = this.bigEndian || raw.byteOffset % size ? raw.slice() : raw;
    if (this.bigEndian) byteSwap(bytes, size);
    const src = viewAs(dtype, bytes);
    if (isContiguous(r.shape, r.stride)) return { dtype, shape: [...r.shape], data: src };
    return { dtype, shape: [...r.shape], data: gatherStrided(src, r.shape, r.stride) };
  }
  /** A storage entry's bytes, read whole (its CRC checked); the last one is kept, so views of one storage read it once. */
  private async storageBytes(entry: ZipEntry): Promise<Uint8Array> {
    if (this.cached?.entry !== entry) this.cached = { entry, bytes: await this.zip.read(entry) };
    return this.cached.bytes;
  }
  private cached: { entry: ZipEntry; bytes: Uint8Array } | null = null;
  async close(): Promise<void> {
    this.cached = null;
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
