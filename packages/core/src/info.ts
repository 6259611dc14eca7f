/**
 * Summaries of checkpoints for `nextscale info`: what kind of model a file
 * holds, how many tensors and parameters, and every key's shape.
 */
import { DTYPE_SIZE, type DType, numel } from "./io/dtype.js";
import { CheckpointFormatError } from "./io/source.js";
import type { TensorStore } from "./io/store.js";

export type CheckpointKind = "vae" | "var" | "inception" | "other";

export interface CheckpointSummary {
  file: string;
  format: string;
  kind: CheckpointKind;
  tensors: number;
  /** Learnable parameters: all elements except the known non-learnable buffers of VAR/VQ-VAE. */
  params: number;
  /** All elements, buffers included. */
  elements: number;
  bytes: number;
  /** The dtype of most elements ("mixed" never appears: the majority wins, `dtypes` has the rest). */
  dtype: DType | "none";
  dtypes: Partial<Record<DType, number>>;
  keys: Record<string, number[]>;
}

/** Persistent buffers of the official models; they are in the state dict but are not parameters. */
const BUFFER_SUFFIXES = ["lvl_1L", "attn_bias_for_masking", "zero_k_bias", "ema_vocab_hit_SV", "num_batches_tracked", "running_mean", "running_var"];

export function isBufferKey(key: string): boolean {
  const last = key.split(".").pop()!;
  return BUFFER_SUFFIXES.includes(last);
}

export function guessKind(keys: string[]): CheckpointKind {
  const has = (k: string) => keys.includes(k);
  if (has("class_emb.weight") && keys.some((k) => k.startsWith("blocks.0.attn."))) return "var";
  if (has("quantize.embedding.weight") && has("encoder.conv_in.weight")) return "vae";
  if (has("Conv2d_1a_3x3.conv.weight") && keys.some((k) => k.startsWith("Mixed_7c."))) return "inception";
  return "other";
}

export function inspectCheckpoint(store: TensorStore): CheckpointSummary {
  // null-prototype objects: a tensor named `__proto__` is an ordinary key
  const keys: Record<string, number[]> = Object.create(null);
  const dtypes: Partial<Record<DType, number>> = Object.create(null);
  let params = 0;
  let elements = 0;
  let bytes = 0;
  for (const k of store.keys()) {
    const { shape, dtype } = store.info(k);
    const n = numel(shape);
    if (!Number.isSafeInteger(n)) throw new CheckpointFormatError(`${store.name}: tensor ${k.slice(0, 200)} has a shape whose size overflows: [${shape}]`);
    keys[k] = shape;
    elements += n;
    bytes += n * DTYPE_SIZE[dtype];
    if (!isBufferKey(k)) params += n;
    dtypes[dtype] = (dtypes[dtype] ?? 0) + n;
  }
  const top = Object.entries(dtypes).sort((a, b) => b[1] - a[1])[0];
  return {
    file: store.name,
    format: store.format,
    kind: guessKind(Object.keys(keys)),
    tensors: Object.keys(keys).length,
    params,
    elements,
    bytes,
    dtype: (top?.[0] as DType) ?? "none",
    dtypes,
    keys,
  };
}
