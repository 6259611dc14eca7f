/**
 * `TensorStore`: the common, lazy view of a checkpoint. Keys and shapes are
 * known after opening; tensor bytes are read only when asked for by name,
 * so a multi-gigabyte checkpoint is never held in memory twice.
 */
import type { DType, HostTensor } from "./dtype.js";

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

export type CheckpointFormat = "pth" | "safetensors" | "npz" | "npy";

export interface TensorStore {
  readonly format: CheckpointFormat;
  /** Where it came from (path, URL, "buffer"), for messages. */
  readonly name: string;
  /** Tensor names in file order. */
  keys(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** Read one tensor (row-major, contiguous). */
  read(name: string): Promise<HostTensor>;
  /** Non-tensor values found in the file (safetensors `__metadata__`, pickled scalars). */
  readonly metadata: Record<string, unknown>;
  close(): Promise<void>;
}

export function missingKey(store: { name: string }, key: string): Error {
  return new Error(`${store.name}: no tensor named "${key}"`);
}
