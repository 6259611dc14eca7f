/**
 * A caching allocator for device buffers (PyTorch's CUDACachingAllocator in
 * miniature): sizes are rounded up to buckets (powers of two from 256 bytes,
 * then multiples of 2 MiB past 2 MiB), a freed buffer goes on its bucket's
 * free list and the next request of that bucket takes it back without a
 * device call. The device frees cached buffers only on `emptyCache()` or
 * when an allocation fails. Reuse is safe without synchronising: every
 * kernel runs on the one stream, so a buffer's next user runs after its
 * last one.
 */
type Ptr = number;

export interface RawAllocator {
  alloc(bytes: number): Ptr;
  free(p: Ptr): void;
}

const MIB2 = 2 * 1024 * 1024;

/** The bucket (bytes actually allocated) for a request of `bytes`. */
export function bucketOf(bytes: number): number {
  if (bytes <= 256) return 256;
  if (bytes <= MIB2) return 2 ** Math.ceil(Math.log2(bytes));
  return Math.ceil(bytes / MIB2) * MIB2;
}

export class CachingAllocator {
  private readonly free = new Map<number, Ptr[]>();
  private readonly sizes = new Map<Ptr, number>();
  /** Bytes in buffers handed out (by bucket size). */
  bytesInUse = 0;
  /** Bytes in freed buffers kept for reuse. */
  bytesCached = 0;
  /** Device allocations made (cache misses) and requests served from the cache. */
  deviceAllocs = 0;
  reused = 0;

  constructor(private readonly raw: RawAllocator) {}

  alloc(bytes: number): Ptr {
    const size = bucketOf(bytes);
    const list = this.free.get(size);
    let p = list?.pop();
    if (p !== undefined) {
      this.bytesCached -= size;
      this.reused++;
    } else {
      p = this.raw.alloc(size);
      if (!p) {
        this.emptyCache();
        p = this.raw.alloc(size);
      }
      if (!p) throw new Error(`cuda: out of device memory allocating ${size} bytes (${this.bytesInUse} in use)`);
      this.deviceAllocs++;
    }
    this.sizes.set(p, size);
    this.bytesInUse += size;
    return p;
  }

  release(p: Ptr): void {
    const size = this.sizes.get(p);
    if (size === undefined) throw new Error(`cuda: releasing a buffer the allocator did not hand out (${p})`);
    this.sizes.delete(p);
    this.bytesInUse -= size;
    this.bytesCached += size;
    const list = this.free.get(size);
    if (list) list.push(p);
    else this.free.set(size, [p]);
  }

  /** Give every cached buffer back to the device. */
  emptyCache(): void {
    for (const list of this.free.values()) for (const p of list) this.raw.free(p);
    this.free.clear();
    this.bytesCached = 0;
  }
}
