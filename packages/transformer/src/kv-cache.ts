/**
 * The key/value cache of next-scale inference: every block keeps the keys
 * and values of all scales run so far, so scale k attends to the cached
 * scales < k and to itself with no mask (official `SelfAttention.kv_caching`
 * in FoundationVision/VAR `models/basic_var.py`).
 *
 * The cache owns its tensors: appending replaces a block's (B, H, Lk, c)
 * keys and values by longer ones and frees the old; `dispose()` frees them
 * all. Inference only: do not record gradients through a cache.
 */
import * as tf from "@tensorflow/tfjs-core";

export class KVCache {
  private readonly keys: (tf.Tensor4D | null)[];
  private readonly values: (tf.Tensor4D | null)[];
  private scalesDone = 0;
  private tokens = 0;

  constructor(
    /** Number of blocks (one slot each). */
    readonly depth: number,
    /** The model's token-map sides, to know which scale comes next. */
    readonly patchNums: readonly number[],
  ) {
    this.keys = new Array(depth).fill(null);
    this.values = new Array(depth).fill(null);
  }

  /** Index of the next scale to run (= scales already cached). */
  get nextScale(): number {
    return this.scalesDone;
  }
  /** Number of tokens cached per batch row. */
  get length(): number {
    return this.tokens;
  }
  /** True when every scale has been run. */
  get complete(): boolean {
    return this.scalesDone === this.patchNums.length;
  }
  /** Batch size of the cached rows (null when empty). */
  get batchSize(): number | null {
    return this.keys[0]?.shape[0] ?? null;
  }

  /**
   * Append one block's keys and values (B, H, l, c) of the current scale and
   * return everything cached for that block, (B, H, Lk, c). The returned
   * tensors belong to the cache.
   */
  append(block: number, k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    const oldK = this.keys[block];
    const oldV = this.values[block];
    const newK = tf.keep(oldK ? tf.concat([oldK, k], 2) : k.clone());
    const newV = tf.keep(oldV ? tf.concat([oldV, v], 2) : v.clone());
    oldK?.dispose();
    oldV?.dispose();
    this.keys[block] = newK;
    this.values[block] = newV;
    return [newK, newV];
  }

  /** Record that one scale of `tokens` tokens went through every block. */
  advance(tokens: number): void {
    this.scalesDone++;
    this.tokens += tokens;
  }

  /** Free every cached tensor and start over. */
  dispose(): void {
    for (let i = 0; i < this.depth; i++) {
      this.keys[i]?.dispose();
      this.values[i]?.dispose();
      this.keys[i] = this.values[i] = null;
    }
    this.scalesDone = 0;
    this.tokens = 0;
  }
}
