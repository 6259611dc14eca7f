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
 */

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed`: any integer (or a non-negative number below 2^53); 0 is valid. */
  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Random: seed must be a safe integer (got ${seed})`);
    // Fold the high and low 32 bits of the seed into the SplitMix state.
    const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) | 0, 0x9e3779b9) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1; // the all-zero state is a fixed point
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
