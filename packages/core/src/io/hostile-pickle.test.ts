/**
 * Hostile pickles inside `.pth` checkpoints: amplification through shared
 * containers ("billion laughs") used as containers, sizes, persistent ids,
 * dict keys and call arguments; cycles and deep nesting; huge integers;
 * malformed storage counts, stride-0 views and overflowing shapes; names
 * that are Object.prototype keys; tensors nested in lists and sets. Each
 * must end in a `CheckpointFormatError` within bounded time (measured and
 * printed), or load correctly.
 */
import { describe, expect, it } from "vitest";
import { inspectCheckpoint } from "../info.js";
import { openCheckpoint } from "./checkpoint.js";
import { torchZip } from "./fake-torch.testutil.js";
import { CheckpointFormatError } from "./source.js";

/** Raw pickle opcodes (protocol 2), enough to write hostile files by hand. */
class P {
  b: number[] = [0x80, 2];
  op(...x: number[]) {
    this.b.push(...x);
    return this;
  }
  str(s: string) {
    const e = new TextEncoder().encode(s);
    return this.op(0x58, e.length & 255, (e.length >> 8) & 255, (e.length >> 16) & 255, 0, ...e);
  }
  int(n: number) {
    return this.op(0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
  }
  global(mod: string, name: string) {
    return this.op(0x63, ...new TextEncoder().encode(`${mod}\n${name}\n`));
  }
  put(i: number) {
    return this.op(0x72, i & 255, (i >> 8) & 255, (i >> 16) & 255, 0); // LONG_BINPUT
  }
  get(i: number) {
    return this.op(0x6a, i & 255, (i >> 8) & 255, (i >> 16) & 255, 0); // LONG_BINGET
  }
  /** A float storage of n elements as a persistent id, then a tensor view of it: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
  tensor(key: string, n: number | (() => void), offset: number, size: number[] | (() => void), stride: number[] | (() => void)) {
    this.global("torch._utils", "_rebuild_tensor_v2").op(0x28);
    this.op(0x28).str("storage").global("torch", "FloatStorage").str(key).str("cpu");
    if (typeof n === "number") this.int(n);
    else n();
    this.op(0x74, 0x51); // TUPLE, BINPERSID
    this.int(offset);
    for (const part of [size, stride]) {
      if (typeof part === "function") part();
      else {
        this.op(0x28);
        for (const d of part) this.int(d);
        this.op(0x74);
      }
    }
    this.op(0x89).global("collections", "OrderedDict").op(0x29, 0x52); // False, OrderedDict()
    return this.op(0x74, 0x52); // TUPLE, REDUCE
  }
  bytes() {
    return new Uint8Array([...this.b, 0x2e]);
  }
}

const floats = (n: number) => new Uint8Array(new Float32Array(Array.from({ length: n }, (_, i) => i)).buffer);
const pth = (pickle: Uint8Array, storages: Record<string, Uint8Array> = { "0": floats(4) }) => torchZip("archive", pickle, storages);

/** Open and read every tensor; resolve to the store's summary or reject. Reports the time taken. */
async function load(bytes: Uint8Array) {
  const store = await openCheckpoint(bytes);
  try {
    for (const k of store.keys()) await store.read(k);
    return inspectCheckpoint(store);
  } finally {
    await store.close();
  }
}

async function refused(what: string, bytes: Uint8Array, message: RegExp) {
  const t0 = performance.now();
  const err = await load(bytes).then(
    () => null,
    (e: unknown) => e,
  );
  const ms = performance.now() - t0;
  console.log(`[hostile] ${what} (${bytes.length} bytes): ${err instanceof Error ? `${err.name}: ${err.message.slice(0, 160)}` : "loaded"} in ${ms.toFixed(0)} ms`);
  expect(err).toBeInstanceOf(CheckpointFormatError);
  expect((err as Error).message).toMatch(message);
  expect((err as Error).message.length).toBeLessThan(1000);
  expect(ms).toBeLessThan(5000);
}

/** d[0] = {}; d[i+1] = {"a": d[i], "b": d[i]}: 2^levels paths through `levels` containers. */
function dictBomb(p: P, levels: number, leaf: () => void = () => p.op(0x7d)) {
  leaf();
  p.put(0);
  p.op(0x30); // POP: only the memo holds it
  for (let i = 0; i < levels; i++) p.op(0x7d, 0x28).str("a").get(i).str("b").get(i).op(0x75).put(i + 1).op(0x30);
  return p.get(levels);
}
/** t[0] = (1,); t[i+1] = (t[i], t[i]). */
function tupleBomb(p: P, levels: number) {
  p.op(0x28).int(1).op(0x74).put(0).op(0x30);
  for (let i = 0; i < levels; i++) p.get(i).get(i).op(0x86).put(i + 1).op(0x30);
  return p.get(levels);
}

describe("hostile pickles end in a CheckpointFormatError, in bounded time", () => {
  it("billion laughs: dicts shared through the memo, 30 levels (2^30 paths)", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x");
    dictBomb(p, 30).op(0x73); // SETITEM
    await refused("dict bomb", pth(p.bytes()), /shared or nested more than its size can describe/);
  });

  it("the same, with a tensor at the bottom", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x");
    dictBomb(p, 30, () => p.op(0x7d, 0x28).str("w").tensor("0", 4, 0, [4], [1]).op(0x75)).op(0x73);
    await refused("dict bomb over a tensor", pth(p.bytes()), /shared or nested more than its size can describe/);
  });

  it("a tuple bomb as a tensor's size", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("w");
    p.tensor("0", 4, 0, () => tupleBomb(p, 30), [1]).op(0x73);
    await refused("tuple bomb as a size", pth(p.bytes()), /malformed tensor size/);
  });

  it("a tuple bomb as a persistent id", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("w");
    tupleBomb(p, 30).op(0x51).op(0x73); // BINPERSID, SETITEM
    await refused("tuple bomb as a persistent id", pth(p.bytes()), /unsupported persistent id/);
  });

  it("a tuple bomb as a dict key", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52);
    tupleBomb(p, 30).str("v").op(0x73);
    await refused("tuple bomb as a dict key", pth(p.bytes()), /dict key that is not a string/);
  });

  it("a large list passed again and again to a callable (quadratic work)", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x");
    p.op(0x5d, 0x28); // EMPTY_LIST, MARK
    for (let i = 0; i < 20_000; i++) p.op(0x4b, 1); // BININT1 1
    p.op(0x65).put(0).op(0x30); // APPENDS, memo[0] = the list, POP
    p.global("builtins", "list").put(1).op(0x30);
    p.op(0x5d); // the value: a list of copies
    for (let i = 0; i < 60_000; i++) p.get(1).get(0).op(0x85, 0x52, 0x61); // list(memo[0]) appended: 20k items copied each time
    p.op(0x73);
    await refused("one list copied 60,000 times", pth(p.bytes()), /more work than its .* bytes can describe/);
  });

  it("a list that contains itself, and a dict that contains itself", async () => {
    const l = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x");
    l.op(0x5d).put(0).tensor("0", 4, 0, [4], [1]).op(0x61).get(0).op(0x61).op(0x73); // x = [w, x]
    await refused("self-referencing list", pth(l.bytes()), /contains itself/);
    const d = new P().op(0x7d).put(0).str("self").get(0).op(0x73); // d = {"self": d}
    await refused("self-referencing dict", pth(d.bytes()), /contains itself/);
  });

  it("1e5-deep nesting: metadata kept short, tensors below refused", async () => {
    const deep = (withTensor: boolean) => {
      const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x");
      for (let i = 0; i < 100_000; i++) p.op(0x5d);
      if (withTensor) p.tensor("0", 4, 0, [4], [1]).op(0x61);
      for (let i = 0; i < 99_999; i++) p.op(0x61); // APPEND each list into the one below it
      return p.op(0x73).bytes();
    };
    await refused("1e5-deep lists over a tensor", pth(deep(true)), /nested more than 256 deep/);
    const t0 = performance.now();
    const s = await load(pth(deep(false)));
    console.log(`[hostile] 1e5-deep lists, no tensor: loaded (0 tensors) in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(s.tensors).toBe(0);
    const store = await openCheckpoint(pth(deep(false)));
    expect(String(store.metadata.x)).toMatch(/^\(omitted: \[\[\[/); // too deep to keep: described instead
    await store.close();
  });

  it("integers longer than any checkpoint needs (LONG4 of 256 KiB, LONG of 1e5 digits)", async () => {
    const n = 256 << 10;
    const long4 = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x").op(0x8b, n & 255, (n >> 8) & 255, (n >> 16) & 255, 0);
    for (let i = 0; i < n; i++) long4.b.push(7);
    long4.op(0x73);
    await refused("LONG4 of 256 KiB", pth(long4.bytes()), /an integer of 262144 bytes/);
    const text = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("x").op(0x4c);
    for (const c of new TextEncoder().encode(`${"9".repeat(100_000)}L\n`)) text.b.push(c);
    text.op(0x73);
    await refused("LONG of 1e5 digits", pth(text.bytes()), /a LONG of 100000 digits/);
  });

  it("storage counts, views and shapes that do not fit", async () => {
    const one = (build: (p: P) => void) => {
      const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("w");
      build(p);
      return pth(p.op(0x73).bytes());
    };
    const nan = () => new P().op(0x47, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0).b.slice(2); // BINFLOAT NaN
    await refused("storage count NaN", one((p) => p.tensor("0", () => p.op(...nan()), 0, [4], [1])), /malformed element count/);
    await refused("stride-0 view of 2^40 elements", one((p) => p.tensor("0", 4, 0, [1 << 20, 1 << 20], [0, 0])), /would materialise 1099511627776 elements/);
    await refused("a shape whose product overflows", one((p) => p.tensor("0", 4, 0, [2 ** 30, 2 ** 30, 2 ** 30, 0x7fffffff], [0, 0, 0, 0])), /sizes overflow|would materialise/);
    await refused("a negative stride", one((p) => p.tensor("0", 4, 0, [4], [-1])), /malformed tensor stride/);
    await refused("a storage declared twice with different sizes", one((p) => p.op(0x28).tensor("0", 4, 0, [4], [1]).tensor("0", 8, 0, [8], [1]).op(0x74)), /declared twice/);
  });

  it("names that are Object.prototype keys, tensors nested in lists", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).op(0x28);
    p.str("__proto__").tensor("0", 4, 0, [4], [1]);
    p.str("constructor").tensor("0", 4, 1, [2], [1]);
    p.str("layers").op(0x5d, 0x5d).tensor("0", 4, 0, [2], [1]).op(0x61, 0x61); // [[tensor]]
    p.op(0x75);
    const s = await load(pth(p.bytes()));
    console.log(`[hostile] keys: ${Object.keys(s.keys).join(", ")}`);
    expect(Object.keys(s.keys).sort()).toEqual(["__proto__", "constructor", "layers.0.0"]);
    const proto = "__proto__";
    expect(s.keys[proto]).toEqual([4]);
    expect(JSON.stringify(s.keys)).toBe('{"__proto__":[4],"constructor":[2],"layers.0.0":[2]}');
  });

  it("tensors in a set, where no name reaches them", async () => {
    const p = new P().global("collections", "OrderedDict").op(0x29, 0x52).str("s").op(0x8f, 0x28).tensor("0", 4, 0, [4], [1]).op(0x90, 0x73);
    await refused("tensor in a set", pth(p.bytes()), /a set holding tensors/);
  });
});
