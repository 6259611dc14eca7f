/**
 * A restricted unpickler for the subset of Python's pickle format that
 * `torch.save` writes (protocol 2 by default; opcodes of protocols 3-5 are
 * accepted too). It never executes anything from the file: every GLOBAL is
 * looked up in a caller-supplied whitelist, and anything not in it is an
 * error. Values map to JS as: None -> null, bool, int -> number (bigint
 * beyond 2^53), float, str, bytes -> Uint8Array, list -> array,
 * tuple -> PyTuple, dict -> PyDict (an ordered Map with Python attributes).
 * Reference: CPython `Lib/pickle.py` and `Modules/_pickle.c` opcode tables.
 *
 * Bounded work: a hostile pickle can make a small file describe a huge
 * structure (containers shared through the memo and passed again and
 * again to a callable, "billion laughs"). Unpickling costs at most a small
 * multiple of the data's length: every call's arguments and every state
 * set by BUILD count against a budget of `WORK_PER_BYTE` units per byte,
 * integers longer than any checkpoint needs are refused, and values are
 * rendered into messages only up to a bounded length (`renderValue`).
 */
import { CheckpointFormatError, quoted } from "./source.js";

/** Work allowed per byte of pickle data (calls' argument sizes, BUILD states), plus a fixed allowance. */
const WORK_PER_BYTE = 16;
const WORK_BASE = 1 << 20;
/**
 * Memory the unpickled values may take (estimated: a dict 200 bytes, a list
 * or tuple 64 + 8 per item, a memo entry 32 …) per byte of pickle, plus a
 * fixed allowance: one opcode byte can make an object of a hundred bytes
 * and more, so a megabyte of EMPTY_DICT would otherwise take 200 MB.
 */
const ALLOC_PER_BYTE = 4;
const ALLOC_BASE = 16 << 20;
/** A memo entry, with the Map's growth (its table doubles, briefly holding both). */
const MEMO_ENTRY = 64;
/** Longest integer accepted (LONG1/LONG4 bytes; LONG text digits): no checkpoint needs more than 64 bits. */
const MAX_INT_BYTES = 64;
const MAX_INT_DIGITS = 160;

/**
 * A short, bounded description of a value from a pickle, for error
 * messages: at most `max` characters, containers shown a few items deep,
 * shared and self-referencing containers never walked twice.
 */
export function renderValue(v: unknown, max = 200): string {
  let out = "";
  const seen = new Set<unknown>();
  const emit = (x: unknown, depth: number): void => {
    if (out.length > max) return;
    if (x === null) out += "None";
    else if (typeof x === "string") out += quoted(x, max);
    else if (typeof x === "number" || typeof x === "boolean" || typeof x === "bigint") {
      const t = String(x);
      out += t.length > 40 ? `${t.slice(0, 40)}… (${t.length} digits)` : t;
    } else if (x instanceof Uint8Array) out += `bytes(${x.length})`;
    else if (Array.isArray(x) || x instanceof Set || x instanceof Map) {
      const name = x instanceof PyTuple ? "tuple" : x instanceof Map ? "dict" : x instanceof Set ? "set" : "list";
      const size = x instanceof Map || x instanceof Set ? x.size : x.length;
      if (seen.has(x) || depth > 2) {
        out += `${name}(${size} items)`;
        return;
      }
      seen.add(x);
      const [open, close] = x instanceof PyTuple ? ["(", ")"] : x instanceof Map || x instanceof Set ? ["{", "}"] : ["[", "]"];
      out += open;
      let i = 0;
      for (const item of x instanceof Map ? x.entries() : x) {
        if (i > 0) out += ", ";
        if (i === 4 || out.length > max) {
          out += `… ${size} items`;
          break;
        }
        if (x instanceof Map) {
          const [k, val] = item as [unknown, unknown];
          emit(k, depth + 1);
          out += ": ";
          emit(val, depth + 1);
        } else emit(item, depth + 1);
        i++;
      }
      out += close;
    } else if (typeof x === "object" && x !== null && "qualname" in x) out += `<${String((x as PyCallable).qualname).slice(0, 80)}>`;
    else out += `<${typeof x === "object" && x ? (x.constructor?.name ?? "object") : typeof x}>`;
  };
  emit(v, 0);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** A Python tuple (kept distinct from lists, which matters for persistent ids). */
export class PyTuple extends Array<unknown> {}
/** A Python dict / OrderedDict; `attrs` holds state set by BUILD (e.g. `_metadata`). */
export class PyDict extends Map<unknown, unknown> {
  private state: Record<string, unknown> | undefined;
  /** Attributes set by BUILD; a null-prototype object (a name from the file, `__proto__` too, is an ordinary key), made on first use. */
  get attrs(): Record<string, unknown> {
    this.state ??= Object.create(null) as Record<string, unknown>;
    return this.state;
  }
}
/** A whitelisted Python callable or class, resolved by the caller. */
export interface PyCallable {
  readonly qualname: string;
  call(args: unknown[], kwargs?: PyDict): unknown;
}

export interface UnpickleOptions {
  /** Resolve `module.name`; return undefined to reject it. */
  findClass(module: string, name: string): PyCallable | undefined;
  /** Resolve a persistent id (BINPERSID). */
  persistentLoad?(pid: unknown): unknown;
  /** For error messages. */
  name?: string;
}

function tuple(items: unknown[]): PyTuple {
  const t = new PyTuple();
  for (const x of items) t.push(x);
  return t;
}

export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  const label = opts.name ?? "pickle";
  const fail = (msg: string): never => {
    throw new CheckpointFormatError(`${label}: ${msg}`);
  };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const dec = new TextDecoder("utf-8", { fatal: true });
  const latin1 = new TextDecoder("latin1");
  let pos = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const budget = WORK_BASE + WORK_PER_BYTE * data.byteLength;
  let work = 0;
  const allocBudget = ALLOC_BASE + ALLOC_PER_BYTE * data.byteLength;
  let allocated = 0;
  /** Account for `bytes` (estimated) of new values. */
  const alloc = (bytes: number) => {
    allocated += bytes;
    if (allocated > allocBudget) {
      fail(`the pickle's values would take more memory than its ${data.byteLength} bytes can describe (${allocated} bytes estimated): refused`);
    }
  };
  /** Charge the size of what a call or BUILD is handed (shallow: containers count their items, strings their length). */
  const charge = (xs: Iterable<unknown>, what: string) => {
    for (const x of xs) {
      work += 1;
      if (typeof x === "string") work += x.length >> 4;
      else if (Array.isArray(x)) work += x.length;
      else if (x instanceof Map || x instanceof Set) work += x.size;
      else if (x instanceof Uint8Array) work += x.length >> 4;
    }
    if (work > budget) {
      fail(`${what}: the pickle makes more work than its ${data.byteLength} bytes can describe (shared containers passed again and again: refused)`);
    }
  };

  const need = (n: number) => {
    if (pos + n > data.byteLength) fail(`truncated data at byte ${pos} (needs ${n} more)`);
  };
  const u8 = () => {
    need(1);
    return data[pos++];
  };
  const fixed = (n: number, get: (o: number) => number) => {
    need(n);
    const v = get(pos);
    pos += n;
    return v;
  };
  const u16 = () => fixed(2, (o) => dv.getUint16(o, true));
  const u32 = () => fixed(4, (o) => dv.getUint32(o, true));
  const i32 = () => fixed(4, (o) => dv.getInt32(o, true));
  const u64 = () => {
    const v = fixed(8, (o) => Number(dv.getBigUint64(o, true)));
    if (v > data.byteLength) fail(`length ${v} exceeds the data`);
    return v;
  };
  const bytes = (n: number) => {
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = () => {
    const end = data.indexOf(10, pos);
    if (end < 0) fail("truncated data: unterminated text line");
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return dec.decode(b);
    } catch {
      return fail("invalid UTF-8 string");
    }
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail("stack underflow");
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail("MARK expected");
    return stack.splice(m as number);
  };
  const resolve = (module: string, name: string): PyCallable => {
    const c = opts.findClass(module, name);
    if (!c) {
      fail(
        `refusing to load global ${quoted(`${module}.${name}`)}: not in the whitelist of safe types (a checkpoint that needs it may run code; only tensor state dicts are read)`,
      );
    }
    return c as PyCallable;
  };
  const asCallable = (f: unknown, op: string): PyCallable => {
    if (typeof f !== "object" || f === null || typeof (f as PyCallable).call !== "function" || !("qualname" in f)) {
      fail(`${op} on a value that is not a whitelisted callable`);
    }
    return f as PyCallable;
  };
  /** Call a whitelisted callable; its errors name the file too. */
  const invoke = (f: PyCallable, args: unknown[], kwargs?: PyDict): unknown => {
    try {
      return f.call(args, kwargs);
    } catch (e) {
      if (e instanceof CheckpointFormatError && !e.message.startsWith(label)) throw new CheckpointFormatError(`${label}: ${e.message}`);
      throw e;
    }
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof PyDict)) fail("SETITEM(S) on a non-dict");
    if (kv.length % 2) fail("odd number of items in SETITEMS");
    alloc(12 * kv.length);
    for (let i = 0; i < kv.length; i += 2) (d as PyDict).set(kv[i], kv[i + 1]);
  };
  /** A little-endian two's-complement integer, decoded in linear time (hex digits to one BigInt). */
  const intFromLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length > MAX_INT_BYTES) fail(`an integer of ${b.length} bytes: no checkpoint needs more than ${MAX_INT_BYTES} (refused)`);
    let hex = "";
    for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, "0");
    let v = BigInt(`0x${hex}`);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    if (pos >= data.byteLength) fail("truncated data: no STOP opcode");
    const op = data[pos++];
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail("unsupported pickle protocol");
        break;
      case 0x95: // FRAME (length is advisory)
        bytes(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`malformed: ${stack.length} values on the stack at STOP`);
        return stack[0];
      case 0x28: // MARK
        alloc(8);
        marks.push(stack.length);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(intFromLE(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail("negative LONG4 length");
        if (n > MAX_INT_BYTES) fail(`an integer of ${n} bytes: no checkpoint needs more than ${MAX_INT_BYTES} (refused)`);
        stack.push(intFromLE(bytes(n)));
        break;
      }
      case 0x49: {
        // INT (text); "01"/"00" are the protocol-0 booleans
        const s = line();
        if (s.length > MAX_INT_DIGITS) fail(`an INT of ${s.length} characters (refused)`);
        if (s === "01" || s === "00") stack.push(s === "01");
        else {
          const v = Number(s);
          if (!Number.isSafeInteger(v)) fail(`bad INT ${renderValue(s)}`);
          stack.push(v);
        }
        break;
      }
      case 0x4c: {
        // LONG (text)
        const s = line().replace(/L$/, "");
        if (s.length > MAX_INT_DIGITS) fail(`a LONG of ${s.length} digits: no checkpoint needs one (refused)`);
        if (!/^-?\d+$/.test(s)) fail("bad LONG");
        const b = BigInt(s);
        stack.push(b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: {
        // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail("bad FLOAT");
        stack.push(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(utf8(bytes(u32())));
        alloc(32 + (stack[stack.length - 1] as string).length);
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(bytes(u64())));
        break;
      case 0x54: {
        // BINSTRING (py2 str): decoded as latin-1
        const n = i32();
        if (n < 0) fail("negative BINSTRING length");
        stack.push(latin1.decode(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(bytes(u8())));
        break;
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: // BINBYTES8
      case 0x96: {
        // BYTEARRAY8
        const b = bytes(op === 0x42 ? u32() : op === 0x43 ? u8() : u64());
        alloc(192 + b.length); // a typed array and its buffer
        stack.push(b.slice());
        break;
      }
      case 0x29: // EMPTY_TUPLE
        alloc(64);
        stack.push(new PyTuple());
        break;
      case 0x85: // TUPLE1
        alloc(72);
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        alloc(80);
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        alloc(88);
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x74: {
        // TUPLE
        const items = popMark();
        alloc(64 + 8 * items.length);
        stack.push(tuple(items));
        break;
      }
      case 0x5d: // EMPTY_LIST
        alloc(64);
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        alloc(64 + 8 * items.length);
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l) || l instanceof PyTuple) fail("APPEND on a non-list");
        alloc(8);
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l) || l instanceof PyTuple) fail("APPENDS on a non-list");
        alloc(8 * items.length);
        for (const x of items) (l as unknown[]).push(x);
        break;
      }
      case 0x7d: // EMPTY_DICT
        alloc(200);
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        alloc(200);
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x8f: // EMPTY_SET
        alloc(200);
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail("ADDITEMS on a non-set");
        alloc(16 * items.length);
        for (const x of items) (s as Set<unknown>).add(x);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark();
        alloc(200 + 16 * items.length);
        stack.push(new Set(items));
        break;
      }
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x70: {
        // PUT (text)
        const i = Number(line());
        if (!Number.isInteger(i)) fail("bad PUT");
        alloc(MEMO_ENTRY);
        memo.set(i, top());
        break;
      }
      case 0x71: // BINPUT
        alloc(MEMO_ENTRY);
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        alloc(MEMO_ENTRY);
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        alloc(MEMO_ENTRY);
        memo.set(memo.size, top());
        break;
      case 0x67: // GET (text)
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo key ${i} not found`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = asCallable(pop(), "REDUCE");
        if (!(args instanceof PyTuple)) fail("REDUCE arguments are not a tuple");
        charge(args as PyTuple, `REDUCE ${f.qualname}`);
        stack.push(invoke(f, [...(args as PyTuple)]));
        break;
      }
      case 0x81: {
        // NEWOBJ cls.__new__(cls, *args)
        const args = pop();
        const cls = asCallable(pop(), "NEWOBJ");
        if (!(args instanceof PyTuple)) fail("NEWOBJ arguments are not a tuple");
        charge(args as PyTuple, `NEWOBJ ${cls.qualname}`);
        stack.push(invoke(cls, [...(args as PyTuple)]));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = asCallable(pop(), "NEWOBJ_EX");
        if (!(args instanceof PyTuple)) fail("NEWOBJ_EX arguments are not a tuple");
        charge([...(args as PyTuple), kwargs], `NEWOBJ_EX ${cls.qualname}`);
        stack.push(invoke(cls, [...(args as PyTuple)], kwargs instanceof PyDict ? kwargs : undefined));
        break;
      }
      case 0x62: {
        // BUILD: set state on the object; only dicts (attributes) are supported
        const state = pop();
        const obj = top();
        let attrs: unknown = state;
        if (state instanceof PyTuple && state.length === 2) {
          // (dict_state, slot_state)
          attrs = state[0] ?? state[1];
        }
        if (attrs === null) break;
        if (!(attrs instanceof PyDict)) fail("BUILD with a non-dict state");
        charge([attrs], "BUILD");
        const target = obj as { attrs?: Record<string, unknown>; setState?: (s: PyDict) => void };
        if (typeof target?.setState === "function") target.setState(attrs as PyDict);
        else if (obj instanceof PyDict) {
          for (const [k, v] of attrs as PyDict) {
            if (typeof k !== "string") fail(`BUILD with an attribute name that is not a string: ${renderValue(k)}`);
            obj.attrs[k as string] = v;
          }
        } else fail("BUILD on an object that takes no state");
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail("persistent id found but no persistent loader");
        charge([pid], "BINPERSID");
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: {
        // PERSID (text)
        const pid = line();
        if (!opts.persistentLoad) fail("persistent id found but no persistent loader");
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default:
        fail(`unsupported or corrupt opcode 0x${op.toString(16).padStart(2, "0")} at byte ${pos - 1}`);
    }
  }
}
