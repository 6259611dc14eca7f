/**
 * Write PyTorch `.pth` files in the zip format of `torch.save` (PyTorch ≥ 1.6;
 * checked against 1.13): `archive/data.pkl` (a protocol-2 pickle),
 * `archive/data/<N>` (one storage per tensor, little-endian, row-major),
 * `archive/byteorder` and `archive/version` ("3").
 *
 * The pickle uses only what `torch.load(path, weights_only=True)` accepts
 * (torch 1.13's `_weights_only_unpickler`): the globals
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the
 * storage classes (`torch.FloatStorage` …), and the opcodes PROTO, MARK,
 * TUPLE*, EMPTY_DICT/LIST/TUPLE, SETITEMS, APPENDS, BININT*, LONG1,
 * BINUNICODE, NONE, NEWTRUE/NEWFALSE, BINPERSID, REDUCE, STOP. Python floats
 * (BINFLOAT) are written only when a value holds a non-integer number, and
 * 1.13's weights-only loader refuses those (a state dict has none).
 *
 * Values: a `HostTensor` becomes a tensor, a `Map` or `PyDict` an
 * `OrderedDict` (key order kept), a plain object a `dict`, an array a list,
 * a `PyTuple` a tuple, `null` None, integers `int` (bigint too), other
 * numbers and `PyFloat`s `float`, strings `str`.
 */
import { DTYPE_SIZE, type DType, type HostTensor, numel } from "./dtype.js";
import { PyTuple } from "./pickle.js";
import { writeZipStored } from "./zip-write.js";

const STORAGE: Record<DType, string> = {
  float32: "FloatStorage",
  float64: "DoubleStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int64: "LongStorage",
  int32: "IntStorage",
  int16: "ShortStorage",
  int8: "CharStorage",
  uint8: "ByteStorage",
  bool: "BoolStorage",
};

/** A number written as a Python float even when it is an integer (`1.0`, not `1`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** What `writePth` can pickle. */
export type PthValue =
  | null
  | PyFloat
  | boolean
  | number
  | bigint
  | string
  | HostTensor
  | PthValue[]
  | Map<string | number, PthValue>
  | { [key: string]: PthValue };

export interface WritePthOptions {
  /** The archive's top folder (torch uses the file name's stem or "archive"). Default "archive". */
  archiveName?: string;
}

function isHostTensor(v: unknown): v is HostTensor {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Map) &&
    typeof (v as HostTensor).dtype === "string" &&
    Array.isArray((v as HostTensor).shape) &&
    ArrayBuffer.isView((v as HostTensor).data)
  );
}

class Pickler {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(1 << 16);
  private pos = 0;
  private readonly enc = new TextEncoder();
  readonly storages: Uint8Array[] = [];
  /** Globals already written, by name: memo index (BINPUT/BINGET keep the pickle small). */
  private readonly globals = new Map<string, number>();
  private memo = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = new Uint8Array(Math.max(1 << 16, n));
    this.pos = 0;
  }
  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  private raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  private u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setUint32(this.pos, v, true);
    this.pos += 4;
  }
  private memoPut(): number {
    const i = this.memo++;
    if (i < 256) {
      this.byte(0x71); // BINPUT
      this.byte(i);
    } else {
      this.byte(0x72); // LONG_BINPUT
      this.u32(i);
    }
    return i;
  }
  private memoGet(i: number): void {
    if (i < 256) {
      this.byte(0x68); // BINGET
      this.byte(i);
    } else {
      this.byte(0x6a); // LONG_BINGET
      this.u32(i);
    }
  }
  global(module: string, name: string): void {
    const key = `${module}\n${name}\n`;
    const m = this.globals.get(key);
    if (m !== undefined) {
      this.memoGet(m);
      return;
    }
    this.byte(0x63); // GLOBAL
    this.raw(this.enc.encode(key));
    this.globals.set(key, this.memoPut());
  }
  int(v: number | bigint): void {
    if (typeof v === "number" && v >= 0 && v < 256) {
      this.byte(0x4b); // BININT1
      this.byte(v);
    } else if (typeof v === "number" && v >= 0 && v < 65536) {
      this.byte(0x4d); // BININT2
      this.byte(v & 0xff);
      this.byte(v >>> 8);
    } else if (typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a); // BININT
      this.ensure(4);
      new DataView(this.buf.buffer, this.buf.byteOffset).setInt32(this.pos, v, true);
      this.pos += 4;
    } else {
      // LONG1: little-endian two's complement, as few bytes as hold the sign
      let x = BigInt(v);
      const out: number[] = [];
      for (;;) {
        const b = Number(x & 0xffn);
        out.push(b);
        x >>= 8n;
        if ((x === 0n && !(b & 0x80)) || (x === -1n && b & 0x80)) break;
      }
      if (out.length > 255) throw new RangeError(`writePth: integer ${v} is too large`);
      this.byte(0x8a);
      this.byte(out.length);
      for (const b of out) this.byte(b);
    }
  }
  str(s: string): void {
    const b = this.enc.encode(s);
    this.byte(0x58); // BINUNICODE
    this.u32(b.length);
    this.raw(b);
  }
  float(v: number): void {
    this.byte(0x47); // BINFLOAT, big-endian
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat64(this.pos, v, false);
    this.pos += 8;
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) {
      this.byte(0x29); // EMPTY_TUPLE
      return;
    }
    if (items.length <= 3) {
      for (const f of items) f();
      this.byte([0x85, 0x86, 0x87][items.length - 1]); // TUPLE1..3
      return;
    }
    this.byte(0x28); // MARK
    for (const f of items) f();
    this.byte(0x74); // TUPLE
  }
  tensor(t: HostTensor, where: string): void {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new Error(`writePth: ${where} has dtype ${String(t.dtype)}, which has no torch storage`);
    const n = numel(t.shape);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`writePth: ${where} has a malformed shape [${t.shape}]`);
    const bytes = n * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== bytes) {
      throw new Error(`writePth: ${where}: data has ${t.data.byteLength} bytes, shape [${t.shape}] of ${t.dtype} needs ${bytes}`);
    }
    const key = String(this.storages.length);
    this.storages.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    const stride: number[] = new Array(t.shape.length);
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride[i] = s;
      s *= t.shape[i];
    }
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
    this.global("torch._utils", "_rebuild_tensor_v2");
    this.byte(0x28); // MARK
    this.tuple([() => this.str("storage"), () => this.global("torch", storage), () => this.str(key), () => this.str("cpu"), () => this.int(n)]);
    this.byte(0x51); // BINPERSID
    this.int(0);
    this.tuple(t.shape.map((d) => () => this.int(d)));
    this.tuple(stride.map((d) => () => this.int(d)));
    this.byte(0x89); // NEWFALSE: requires_grad
    this.global("collections", "OrderedDict");
    this.byte(0x29); // EMPTY_TUPLE
    this.byte(0x52); // REDUCE: backward_hooks = OrderedDict()
    this.byte(0x74); // TUPLE
    this.byte(0x52); // REDUCE
  }
  value(v: unknown, where: string, depth: number): void {
    if (depth > 64) throw new Error(`writePth: ${where}: nested more than 64 deep`);
    if (v === null || v === undefined) this.byte(0x4e); // NONE
    else if (v === true) this.byte(0x88);
    else if (v === false) this.byte(0x89);
    else if (typeof v === "bigint") this.int(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (typeof v === "number") {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
      else this.float(v);
    } else if (typeof v === "string") this.str(v);
    else if (isHostTensor(v)) this.tensor(v, where);
    else if (v instanceof PyTuple) this.tuple(v.map((x, i) => () => this.value(x, `${where}.${i}`, depth + 1)));
    else if (Array.isArray(v)) {
      this.byte(0x5d); // EMPTY_LIST
      if (v.length) {
        this.byte(0x28);
        for (let i = 0; i < v.length; i++) this.value(v[i], `${where}.${i}`, depth + 1);
        this.byte(0x65); // APPENDS
      }
    } else this.dict(v, where, depth);
  }
  private dict(v: unknown, where: string, depth: number): void {
    if (typeof v !== "object" || v === null) throw new Error(`writePth: ${where}: cannot pickle a ${typeof v}`);
    const entries: [unknown, unknown][] = v instanceof Map ? [...v.entries()] : Object.entries(v);
    if (v instanceof Map) {
      this.global("collections", "OrderedDict");
      this.byte(0x29);
      this.byte(0x52); // OrderedDict()
    } else this.byte(0x7d); // EMPTY_DICT
    // SETITEMS in batches of 1000, as Python's pickler does
    for (let i = 0; i < entries.length; i += 1000) {
      this.byte(0x28);
      for (const [k, x] of entries.slice(i, i + 1000)) {
        if (typeof k !== "string" && !(typeof k === "number" && Number.isSafeInteger(k))) {
          throw new Error(`writePth: ${where}: dict keys must be strings or integers`);
        }
        this.value(k, where, depth + 1);
        this.value(x, where ? `${where}.${String(k)}` : String(k), depth + 1);
      }
      this.byte(0x75); // SETITEMS
    }
  }
  finish(): Uint8Array {
    this.byte(0x2e); // STOP
    this.chunks.push(this.buf.subarray(0, this.pos));
    const total = this.chunks.reduce((s, c) => s + c.length, 0);
    const out = new Uint8Array(total);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
  start(): void {
    this.byte(0x80); // PROTO 2
    this.byte(2);
  }
}

/**
 * Serialise a value (typically a state dict: name → tensor, in order) as a
 * `torch.save` zip archive. A `Map` or iterable of `[name, tensor]` pairs is
 * written as an `OrderedDict`, as `torch.save(model.state_dict())` writes
 * it; `torch.load(path, weights_only=True)` reads the result, and so does
 * `openPth` / `openCheckpoint`. Little-endian hosts only (as every
 * JavaScript engine in use).
 */
export function writePth(value: PthValue | Iterable<[string, HostTensor]>, opts: WritePthOptions = {}): Uint8Array {
  const top = opts.archiveName ?? "archive";
  if (!/^[\w.-]{1,100}$/.test(top)) throw new Error(`writePth: archive name ${JSON.stringify(top.slice(0, 120))} must be letters, digits, '_', '.', '-'`);
  const root =
    value !== null && typeof value === "object" && !(value instanceof Map) && !Array.isArray(value) && !isHostTensor(value) && Symbol.iterator in value
      ? new Map(value as Iterable<[string, HostTensor]>)
      : value;
  const p = new Pickler();
  p.start();
  p.value(root, "", 0);
  const pkl = p.finish();
  const enc = new TextEncoder();
  const files: [string, Uint8Array][] = [[`${top}/data.pkl`, pkl]];
  for (let i = 0; i < p.storages.length; i++) files.push([`${top}/data/${i}`, p.storages[i]]);
  files.push([`${top}/byteorder`, enc.encode("little")], [`${top}/version`, enc.encode("3\n")]);
  return writeZipStored(files);
}
