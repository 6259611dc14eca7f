/**
 * Float32 arithmetic that PyTorch's CPU kernels use and JavaScript lacks:
 * the fused multiply-add, rounded once to float32 (`std::fma` / what GCC
 * contracts `a * b + c` into on an FMA machine).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to x (a float32) towards +∞ (up) or −∞. */
function adjacent(x: number, up: boolean): number {
  if (x === 0) return up ? 2 ** -149 : -(2 ** -149);
  f32[0] = x;
  u32[0] += x > 0 === up ? 1 : -1;
  return f32[0];
}

/** fl32(a·b + c), rounded once, for float32 a, b, c. */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24 + 24 bits fit in a float64
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv); // s + err = a·b + c exactly (TwoSum)
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // s rounds to r unless it is exactly halfway between r and its neighbour: then err decides
  const other = adjacent(r, s > r);
  if (s !== (r + other) / 2) return r;
  return err > 0 === other > r ? other : r;
}
