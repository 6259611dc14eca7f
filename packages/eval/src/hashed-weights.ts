/**
 * Deterministic stand-in weights for the FID Inception network: the
 * counter-based integer hash of the FID reference bundle (see
 * test-fixtures/REFERENCE-BUNDLES.md, `fid/`), which any language reproduces
 * bit for bit. They let tests and demos run the whole pipeline without the
 * 96 MB `pt_inception-2015-12-05-6726825d.pth`; scores computed with them
 * mean nothing.
 */
import type { HostTensor } from "@nextscale/core";

/** u ∈ [0, 1) for element i of the j-th sorted key (all arithmetic mod 2³²). */
export function hashUniform(i: number, j: number): number {
  let x = (Math.imul(i, 0x9e3779b1) + Math.imul(j, 0x85ebca77) + 0x27d4eb2f) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x2c1b3c6d) >>> 0;
  x = (x ^ (x >>> 12)) >>> 0;
  x = Math.imul(x, 0x297a2d39) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  return x / 2 ** 32;
}

/** The value of element i of `key` given u (computed in float64; rounded to float32 by the caller). */
function hashedValue(key: string, shape: readonly number[], u: number): number {
  if (key === "fc.weight") return (u - 0.5) * Math.sqrt(12) * (4 / Math.sqrt(shape[1]));
  if (key.endsWith("conv.weight")) return (u - 0.5) * Math.sqrt(12) * Math.sqrt(2 / (shape[1] * shape[2] * shape[3]));
  if (key.endsWith("bn.weight")) return 1 + (u - 0.5) * 0.2;
  if (key.endsWith("running_var")) return 1 + u * 0.2;
  if (key.endsWith("bn.bias") || key.endsWith("running_mean") || key === "fc.bias") return (u - 0.5) * 0.2;
  throw new Error(`hashed weights: no rule for "${key}"`);
}

/** Hashed weights for the given (name, shape) keys; j is the key's index in sorted order. */
export function hashedInceptionWeights(keys: Iterable<readonly [string, readonly number[]]>): Map<string, HostTensor> {
  const sorted = [...keys].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out = new Map<string, HostTensor>();
  sorted.forEach(([key, shape], j) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = hashedValue(key, shape, hashUniform(i, j));
    out.set(key, { dtype: "float32", shape: [...shape], data });
  });
  return out;
}
