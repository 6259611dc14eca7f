/** Helpers shared by the sampler's parity tests. */

/** NCHW reference images -> NHWC values. */
export function nchwToNhwc(data: Float32Array, [B, C, H, W]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[((b * H + y) * W + x) * C + c] = data[((b * C + c) * H + y) * W + x];
  return out;
}

/** Top-1 minus top-2 of each row of a (rows × V) buffer: how far a greedy decision is from a tie. */
export function gaps(logits: Float32Array, V: number): Float64Array {
  const out = new Float64Array(logits.length / V);
  for (let r = 0; r < out.length; r++) {
    let a = Number.NEGATIVE_INFINITY;
    let b = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) {
      const x = logits[r * V + v];
      if (x > a) [a, b] = [x, a];
      else if (x > b) b = x;
    }
    out[r] = a - b;
  }
  return out;
}
