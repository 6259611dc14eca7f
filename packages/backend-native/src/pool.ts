/**
 * A caching allocator for the CPU device's float32 outputs: the values of a
 * disposed tensor wait, by length, for the next output of that length
 * instead of being left to V8's garbage collector while the next output
 * takes fresh memory from the OS (mmap, then a page fault per page on the
 * first write). Training repeats the same shapes every step, so almost
 * every output then reuses warm memory.
 *
 * Only arrays this pool handed out come back to it, and only when nothing
 * else can still see them: no other tensor's values on the same
 * ArrayBuffer (a view made by a tfjs-backend-cpu kernel) and never read
 * out (`readSync`/`read` give the caller the array itself, which a user may
 * keep after disposing the tensor). A reused array holds stale values:
 * kernels write every element of their outputs, or ask for a zeroed one.
 *
 * NEXTSCALE_NATIVE_POOL_MB sets the most it holds (default a quarter of
 * the machine's memory; 0: off). It never holds more than the process had
 * in use at its peak, since it holds only what tensors held;
 * NEXTSCALE_NATIVE_POOL_POISON=1 fills every reused array with NaN (tests:
 * a kernel that relies on a zeroed output shows up).
 */
import { totalmem } from "node:os";

export interface PoolStats {
  /** Outputs served from the pool, and from fresh memory. */
  hits: number;
  misses: number;
  /** Bytes waiting in the pool now, and its limit. */
  bytesHeld: number;
  limitBytes: number;
}

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  /** Arrays handed out by take(): the only ones that may return. */
  private readonly issued = new WeakSet<Float32Array>();
  /** Tensors registered per ArrayBuffer (a view on one counts too). */
  private readonly live = new WeakMap<ArrayBufferLike, number>();
  /** Buffers whose values left the backend (read out): never reused. */
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  private held = 0;
  private hits = 0;
  private misses = 0;
  readonly limitBytes: number;
  private readonly poison: boolean;

  constructor(limitMb = Number(process.env.NEXTSCALE_NATIVE_POOL_MB ?? Math.floor(totalmem() / 4 / 2 ** 20)), poison = process.env.NEXTSCALE_NATIVE_POOL_POISON === "1") {
    this.limitBytes = Number.isFinite(limitMb) && limitMb > 0 ? limitMb * 2 ** 20 : 0;
    this.poison = poison;
  }

  /** A float32 array of n elements: zero-filled when `zeroed`, else of unspecified contents. */
  take(n: number, zeroed = false): Float32Array {
    const list = this.free.get(n);
    const reused = list?.pop();
    if (reused) {
      this.hits++;
      this.held -= reused.byteLength;
      if (zeroed) reused.fill(0);
      else if (this.poison) reused.fill(Number.NaN);
      return reused;
    }
    this.misses++;
    const fresh = new Float32Array(n);
    if (this.limitBytes > 0) this.issued.add(fresh);
    return fresh;
  }

  /** `values` now backs one more tensor. */
  registered(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    this.live.set(values.buffer, (this.live.get(values.buffer) ?? 0) + 1);
  }

  /** `values` left the backend (a read): its memory is never reused. */
  escapedNow(values: unknown): void {
    if (ArrayBuffer.isView(values)) this.escaped.add(values.buffer);
  }

  /** A tensor backed by `values` was freed: keep the array when nothing else can see it. */
  released(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const buf = values.buffer;
    const n = (this.live.get(buf) ?? 1) - 1;
    if (n > 0) {
      this.live.set(buf, n);
      return;
    }
    this.live.delete(buf);
    if (!(values instanceof Float32Array) || !this.issued.has(values) || this.escaped.has(buf)) return;
    if (this.held + values.byteLength > this.limitBytes) return;
    let list = this.free.get(values.length);
    if (!list) {
      list = [];
      this.free.set(values.length, list);
    }
    list.push(values);
    this.held += values.byteLength;
  }

  /** Let every held array go (to the garbage collector). */
  clear(): void {
    this.free.clear();
    this.held = 0;
  }

  stats(): PoolStats {
    return { hits: this.hits, misses: this.misses, bytesHeld: this.held, limitBytes: this.limitBytes };
  }
}
