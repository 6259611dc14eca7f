/**
 * Three float64 kernels in WebAssembly SIMD (f64x2), for the O(d³) loops of
 * the Fréchet distance: 2×2 blocks of dot products, the two-row symmetric
 * matrix-vector step, and the symmetric rank-2 row update. JavaScript has no
 * SIMD and tfjs no float64, so these double the throughput of the plain
 * loops in `linalg64.ts`, which they replace only where WebAssembly SIMD is
 * available (Node ≥ 16, current browsers); the results are the same up to
 * summation order.
 *
 * The module is assembled here, byte by byte, from the WebAssembly binary
 * format (https://webassembly.github.io/spec/core/binary/), so no toolchain
 * or binary blob is involved. All pointers are byte offsets into the shared
 * memory, lengths count float64 elements.
 */

// opcodes
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SHL = 0x74;
const I32_AND = 0x71;
const I32_LT_S = 0x48;
const F64_LOAD = 0x2b;
const F64_STORE = 0x39;
const F64_ADD = 0xa0;
const F64_SUB = 0xa1;
const F64_MUL = 0xa2;
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const BR_IF = 0x0d;
const BR = 0x0c;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const F64 = 0x7c;
const V128 = 0x7b;
const simd = (op: number) => (op < 0x80 ? [0xfd, op] : [0xfd, (op & 0x7f) | 0x80, op >> 7]);
const V128_LOAD = (): number[] => [...simd(0x00), 3, 0];
const V128_STORE = (): number[] => [...simd(0x0b), 3, 0];
const F64X2_SPLAT = simd(0x14);
const F64X2_EXTRACT = (lane: number) => [...simd(0x21), lane];
const F64X2_ADD = simd(0xf0);
const F64X2_SUB = simd(0xf1);
const F64X2_MUL = simd(0xf2);
const f64mem = (offset = 0) => [3, offset];

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const get = (i: number) => [LOCAL_GET, i];
const set = (i: number) => [LOCAL_SET, i];
const i32c = (v: number) => [I32_CONST, ...sleb(v)];
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
/** address of element: base + i (i is a byte offset) */
const addr = (base: number, i: number) => [...get(base), ...get(i), I32_ADD];

/**
 * A counted loop over byte offset `i` from 0 to `end` (exclusive) in steps of
 * `step`: block { loop { br_if (i >= end) ; body ; i += step ; br } }.
 */
function forLoop(i: number, end: number, step: number, body: number[]): number[] {
  return [
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...get(i),
    ...get(end),
    I32_LT_S,
    0x45, // i32.eqz
    BR_IF,
    1,
    ...body,
    ...get(i),
    ...i32c(step),
    I32_ADD,
    ...set(i),
    BR,
    0,
    END,
    END,
  ];
}

/** end2 = (n & ~1) << 3: the bytes covered by whole f64x2 lanes. */
const evenBytes = (n: number, end2: number) => [...get(n), ...i32c(-2), I32_AND, ...i32c(3), I32_SHL, ...set(end2)];
/** if (n & 1) { body } */
const ifOdd = (n: number, body: number[]) => [...get(n), ...i32c(1), I32_AND, IF, VOID, ...body, END];
const hsum = (v: number) => [...get(v), ...F64X2_EXTRACT(0), ...get(v), ...F64X2_EXTRACT(1), F64_ADD];

// dot2x2(x0, x1, y0, y1, n, out): out[0..3] = x0·y0, x0·y1, x1·y0, x1·y1
function dot2x2(): { params: number[]; results: number[]; locals: number[]; code: number[] } {
  const [x0, x1, y0, y1, n, out] = [0, 1, 2, 3, 4, 5];
  const [i, end2] = [6, 7];
  const [s00, s01, s10, s11, a0, a1, b0, b1] = [8, 9, 10, 11, 12, 13, 14, 15];
  const [r00, r01, r10, r11] = [16, 17, 18, 19];
  const mac = (s: number, a: number, b: number) => [...get(s), ...get(a), ...get(b), ...F64X2_MUL, ...F64X2_ADD, ...set(s)];
  const body = [
    ...addr(x0, i),
    ...V128_LOAD(),
    ...set(a0),
    ...addr(x1, i),
    ...V128_LOAD(),
    ...set(a1),
    ...addr(y0, i),
    ...V128_LOAD(),
    ...set(b0),
    ...addr(y1, i),
    ...V128_LOAD(),
    ...set(b1),
    ...mac(s00, a0, b0),
    ...mac(s01, a0, b1),
    ...mac(s10, a1, b0),
    ...mac(s11, a1, b1),
  ];
  const tail = (r: number, x: number, y: number) => [...get(r), ...addr(x, end2), F64_LOAD, ...f64mem(), ...addr(y, end2), F64_LOAD, ...f64mem(), F64_MUL, F64_ADD, ...set(r)];
  const code = [
    ...evenBytes(n, end2),
    ...forLoop(i, end2, 16, body),
    ...hsum(s00),
    ...set(r00),
    ...hsum(s01),
    ...set(r01),
    ...hsum(s10),
    ...set(r10),
    ...hsum(s11),
    ...set(r11),
    ...ifOdd(n, [...tail(r00, x0, y0), ...tail(r01, x0, y1), ...tail(r10, x1, y0), ...tail(r11, x1, y1)]),
    ...get(out),
    ...get(r00),
    F64_STORE,
    ...f64mem(0),
    ...get(out),
    ...get(r01),
    F64_STORE,
    ...f64mem(8),
    ...get(out),
    ...get(r10),
    F64_STORE,
    ...f64mem(16),
    ...get(out),
    ...get(r11),
    F64_STORE,
    ...f64mem(24),
  ];
  return { params: [I32, I32, I32, I32, I32, I32], results: [], locals: [I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, F64, F64, F64, F64], code };
}

// symv2(a0, a1, v, w, n, v0, v1, out): out[0] = a0·v, out[1] = a1·v; w += v0·a0 + v1·a1
function symv2(): { params: number[]; results: number[]; locals: number[]; code: number[] } {
  const [a0, a1, v, w, n, v0, v1, out] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [i, end2] = [8, 9];
  const [s0, s1, x0, x1, vv, c0, c1] = [10, 11, 12, 13, 14, 15, 16];
  const [r0, r1, t0, t1] = [17, 18, 19, 20];
  const body = [
    ...addr(a0, i),
    ...V128_LOAD(),
    ...set(x0),
    ...addr(a1, i),
    ...V128_LOAD(),
    ...set(x1),
    ...addr(v, i),
    ...V128_LOAD(),
    ...set(vv),
    ...get(s0),
    ...get(x0),
    ...get(vv),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...set(s0),
    ...get(s1),
    ...get(x1),
    ...get(vv),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...set(s1),
    // w[i] += x0·c0 + x1·c1
    ...addr(w, i),
    ...addr(w, i),
    ...V128_LOAD(),
    ...get(x0),
    ...get(c0),
    ...F64X2_MUL,
    ...get(x1),
    ...get(c1),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...F64X2_ADD,
    ...V128_STORE(),
  ];
  const ld = (p: number) => [...addr(p, end2), F64_LOAD, ...f64mem()];
  const tail = [
    ...ld(a0),
    ...set(t0),
    ...ld(a1),
    ...set(t1),
    ...get(r0),
    ...get(t0),
    ...ld(v),
    F64_MUL,
    F64_ADD,
    ...set(r0),
    ...get(r1),
    ...get(t1),
    ...ld(v),
    F64_MUL,
    F64_ADD,
    ...set(r1),
    ...addr(w, end2),
    ...ld(w),
    ...get(t0),
    ...get(v0),
    F64_MUL,
    ...get(t1),
    ...get(v1),
    F64_MUL,
    F64_ADD,
    F64_ADD,
    F64_STORE,
    ...f64mem(),
  ];
  const code = [
    ...get(v0),
    ...F64X2_SPLAT,
    ...set(c0),
    ...get(v1),
    ...F64X2_SPLAT,
    ...set(c1),
    ...evenBytes(n, end2),
    ...forLoop(i, end2, 16, body),
    ...hsum(s0),
    ...set(r0),
    ...hsum(s1),
    ...set(r1),
    ...ifOdd(n, tail),
    ...get(out),
    ...get(r0),
    F64_STORE,
    ...f64mem(0),
    ...get(out),
    ...get(r1),
    F64_STORE,
    ...f64mem(8),
  ];
  return { params: [I32, I32, I32, I32, I32, F64, F64, I32], results: [], locals: [I32, I32, V128, V128, V128, V128, V128, V128, V128, F64, F64, F64, F64], code };
}

// axpy2(a, x, y, n, alpha, beta): a -= alpha·x + beta·y
function axpy2(): { params: number[]; results: number[]; locals: number[]; code: number[] } {
  const [a, x, y, n, alpha, beta] = [0, 1, 2, 3, 4, 5];
  const [i, end2] = [6, 7];
  const [ca, cb] = [8, 9];
  const body = [
    ...addr(a, i),
    ...addr(a, i),
    ...V128_LOAD(),
    ...get(ca),
    ...addr(x, i),
    ...V128_LOAD(),
    ...F64X2_MUL,
    ...get(cb),
    ...addr(y, i),
    ...V128_LOAD(),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...F64X2_SUB,
    ...V128_STORE(),
  ];
  const ld = (p: number) => [...addr(p, end2), F64_LOAD, ...f64mem()];
  const tail = [...addr(a, end2), ...ld(a), ...get(alpha), ...ld(x), F64_MUL, ...get(beta), ...ld(y), F64_MUL, F64_ADD, F64_SUB, F64_STORE, ...f64mem()];
  const code = [
    ...get(alpha),
    ...F64X2_SPLAT,
    ...set(ca),
    ...get(beta),
    ...F64X2_SPLAT,
    ...set(cb),
    ...evenBytes(n, end2),
    ...forLoop(i, end2, 16, body),
    ...ifOdd(n, tail),
  ];
  return { params: [I32, I32, I32, I32, F64, F64], results: [], locals: [I32, I32, V128, V128], code };
}

function assemble(): Uint8Array<ArrayBuffer> {
  const fns = [dot2x2(), symv2(), axpy2()];
  const names = ["dot2x2", "symv2", "axpy2"];
  const types = fns.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))]);
  const imports = [[...str("env"), ...str("mem"), 0x02, 0x00, 0x01]]; // memory, min 1 page
  const codes = fns.map((f) => {
    // locals: one entry per local (count 1, type)
    const body = [...vec(f.locals.map((t) => [1, t])), ...f.code, END];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(names.map((n, i) => [...str(n), 0x00, ...uleb(i)]))),
    ...section(10, vec(codes)),
  ]);
}

export interface Simd64 {
  readonly memory: WebAssembly.Memory;
  /** out[0..3] = x0·y0, x0·y1, x1·y0, x1·y1 over n elements. */
  dot2x2(x0: number, x1: number, y0: number, y1: number, n: number, out: number): void;
  /** out[0] = a0·v, out[1] = a1·v; w += v0·a0 + v1·a1. */
  symv2(a0: number, a1: number, v: number, w: number, n: number, v0: number, v1: number, out: number): void;
  /** a −= alpha·x + beta·y. */
  axpy2(a: number, x: number, y: number, n: number, alpha: number, beta: number): void;
}

let cached: Simd64 | null | undefined;

/** The kernels, or null where WebAssembly SIMD is unavailable (or disabled by NEXTSCALE_NO_SIMD=1). */
export function simd64(): Simd64 | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    const env = typeof process !== "undefined" ? process.env?.NEXTSCALE_NO_SIMD : undefined;
    if (env === "1" || typeof WebAssembly !== "object") return cached;
    const bytes = assemble();
    if (!WebAssembly.validate(bytes)) return cached;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } });
    cached = { memory, ...(inst.exports as unknown as Omit<Simd64, "memory">) };
  } catch {
    cached = null;
  }
  return cached;
}

/** Test hook: forget the cached kernels (to exercise the plain path). */
export function resetSimd64(): void {
  cached = undefined;
}

/** Bytes assembled (exported for tests). */
export const simd64Bytes = assemble;
