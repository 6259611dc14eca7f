/**
 * A seeded random generator of our own, so the same seed gives the same
 * numbers on every platform and backend (Math.random cannot be seeded, and
 * tfjs' random ops differ between backends).
 *
 * Algorithm: xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/),
 * 32-bit state words, seeded by running SplitMix32 over the seed so that
 * nearby seeds give unrelated streams. Floats: `random()` = 53 random bits
 * scaled into [0, 1); `normal()` = Box-Muller (the cosine branch only, so
 * every call consumes exactly two `random()` draws).
 *
 * Indexed streams (`Random.forIndex(seed, index)`): one generator per item of
 * a run (an image of a generation run), so item i gets the same numbers
 * whatever other items are computed with it, in which batch, process or
 * order. The four xoshiro128** state words come from SplitMix64 (Steele,
 * Lea & Flood 2014; its 64-bit finaliser `mix64`) over a key that hashes
 * both numbers, as 64-bit two's-complement words:
 *
 *   key = mix64(seed ^ mix64(index + γ))           γ = 0x9e3779b97f4a7c15
 *   z1 = mix64(key + γ),  z2 = mix64(key + 2γ)     (SplitMix64's first two outputs)
 *   state (a, b, c, d) = (low32 z1, high32 z1, low32 z2, high32 z2)
 *
 * mix64 is a bijection of 64-bit words, so for one seed distinct indices
 * give distinct keys and distinct first state words (and for one index,
 * distinct seeds do), and unrelated pairs collide with probability 2⁻⁶⁴.
 */

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const MASK64 = (1n << 64n) - 1n;
const GAMMA64 = 0x9e3779b97f4a7c15n;

/** SplitMix64's finaliser: a bijection of 64-bit words. */
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** A generator's whole state (`Random.getState`), plain JSON: restoring it continues the stream exactly. */
export interface RandomState {
  /** The seed it was made with. */
  seed: number;
  /** The item index of an indexed stream (`Random.forIndex`), absent otherwise. */
  index?: number;
  /** The four xoshiro128** state words, as unsigned 32-bit integers. */
  words: [number, number, number, number];
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The item index of a stream made by `Random.forIndex` (undefined for `new Random(seed)`). */
  readonly index: number | undefined;

  /**
   * `seed`: any integer (or a non-negative number below 2^53); 0 is valid.
   * With `index` (a non-negative safe integer): the indexed stream of
   * `Random.forIndex(seed, index)`.
   */
  constructor(readonly seed: number, index?: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Random: seed must be a safe integer (got ${seed})`);
    this.index = index;
    if (index !== undefined) {
      if (!(Number.isSafeInteger(index) && index >= 0)) throw new RangeError(`Random: index must be a non-negative safe integer (got ${index})`);
      const key = mix64(BigInt.asUintN(64, BigInt(seed)) ^ mix64((BigInt(index) + GAMMA64) & MASK64));
      const z1 = mix64((key + GAMMA64) & MASK64);
      const z2 = mix64((key + 2n * GAMMA64) & MASK64);
      this.a = Number(z1 & 0xffffffffn) | 0;
      this.b = Number(z1 >> 32n) | 0;
      this.c = Number(z2 & 0xffffffffn) | 0;
      this.d = Number(z2 >> 32n) | 0;
    } else {
      // Fold the high and low 32 bits of the seed into the SplitMix state.
      const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) | 0, 0x9e3779b9) };
      this.a = splitmix32(st);
      this.b = splitmix32(st);
      this.c = splitmix32(st);
      this.d = splitmix32(st);
    }
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
  }

  /**
   * The stream of item `index` of a run seeded by `seed` (image i of a
   * generation run): a function of (seed, index) only, unrelated to
   * `new Random(seed)` and to the other indices (see the file comment).
   */
  static forIndex(seed: number, index: number): Random {
    return new Random(seed, index);
  }

  /** The whole state, to save with a checkpoint (`Random.fromState` continues from it). */
  getState(): RandomState {
    const words: [number, number, number, number] = [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
    return this.index === undefined ? { seed: this.seed, words } : { seed: this.seed, index: this.index, words };
  }

  /** A generator that continues exactly where the one whose `getState()` this is stood. */
  static fromState(state: RandomState): Random {
    const w = state?.words;
    if (!Array.isArray(w) || w.length !== 4 || !w.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) {
      throw new RangeError(`Random.fromState: words must be four unsigned 32-bit integers (got ${JSON.stringify(w)})`);
    }
    if (w.every((x) => x === 0)) throw new RangeError("Random.fromState: the all-zero state is not a xoshiro128** state");
    const r = new Random(state.seed, state.index);
    [r.a, r.b, r.c, r.d] = [w[0] | 0, w[1] | 0, w[2] | 0, w[3] | 0];
    return r;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n) without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`Random.int: n must be in [1, 2^32] (got ${n})`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box-Muller). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.random(); // (0, 1]
    const u2 = this.random();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Normal(mean, std) truncated to [a, b] by rejection, as
   * `torch.nn.init.trunc_normal_` samples the same distribution.
   */
  truncNormal(mean: number, std: number, a: number, b: number): number {
    if (!(a < b)) throw new RangeError("truncNormal: need a < b");
    for (let i = 0; i < 1000; i++) {
      const x = this.normal(mean, std);
      if (x >= a && x <= b) return x;
    }
    // The interval is far in a tail: fall back to uniform on it (never reached by the model inits).
    return a + (b - a) * this.random();
  }

  /** Gumbel(0, 1): -log(-log(U)). */
  gumbel(): number {
    const u = this.random();
    return -Math.log(-Math.log(u === 0 ? Number.MIN_VALUE : u));
  }

  /** Fill a Float32Array with f() values. */
  fill(out: Float32Array, f: (r: Random) => number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = f(this);
    return out;
  }

  /** An independent generator derived from this one (for sub-streams). */
  fork(): Random {
    return new Random(this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
