/**
 * Training checkpoints on disk (Node): atomic save, load, and the latest
 * checkpoint of a folder.
 *
 * Atomic: the bytes go to a temporary file in the same folder
 * (`.<name>.tmp-<pid>-<random>`), which is flushed to disk (fsync) and then
 * renamed over the target (rename within one folder replaces atomically on
 * POSIX and on Windows' NTFS); the folder is fsynced after. A crash at any
 * point leaves either the previous file or the new one, never a mix; a
 * crash before the rename leaves a temporary file, which `latestCheckpoint`
 * ignores.
 */
import { openCheckpoint, type Random } from "@nextscale/core";
import {
  applyCheckpoint,
  type ApplyOptions,
  type CheckpointContents,
  type CheckpointInput,
  checkCheckpointHeader,
  decodeCheckpoint,
  checkpointParts,
  prepareCheckpoint,
  restoreRng,
} from "./format.js";

/** Checkpoint file names made by `checkpointPath`: `ckpt-<step, 8+ digits>.safetensors`. */
const NAME = /^ckpt-(\d+)\.safetensors$/;

/** `<dir>/ckpt-<step>.safetensors`, the step zero-padded to 8 digits (so names sort by step). */
export function checkpointPath(dir: string, step: number): string {
  if (!(Number.isSafeInteger(step) && step >= 0)) throw new RangeError(`checkpointPath: step must be a non-negative integer (got ${step})`);
  return `${dir.replace(/[\\/]+$/, "")}/ckpt-${String(step).padStart(8, "0")}.safetensors`;
}

export interface SaveOptions {
  /** Abort the write (the target is left as it was; the temporary file is removed). */
  signal?: AbortSignal;
  /** Bytes per write call (default 8 MiB); the signal is checked between writes. */
  chunkBytes?: number;
}

/**
 * Save a training state to `path` atomically (see the file comment),
 * streamed tensor by tensor (no buffer of the whole file). The folder must
 * exist. Returns the path.
 */
export async function saveCheckpoint(path: string, input: CheckpointInput, opts: SaveOptions = {}): Promise<string> {
  const fs = await import("node:fs/promises");
  const { dirname, basename, join } = await import("node:path");
  const parts = checkpointParts(await prepareCheckpoint(input));
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const chunk = opts.chunkBytes ?? 8 << 20;
  const fh = await fs.open(tmp, "wx");
  try {
    try {
      for (const bytes of parts) {
        for (let at = 0; at < bytes.length; at += chunk) {
          opts.signal?.throwIfAborted();
          const part = bytes.subarray(at, Math.min(bytes.length, at + chunk));
          let done = 0;
          while (done < part.length) done += (await fh.write(part, done, part.length - done)).bytesWritten;
        }
      }
      opts.signal?.throwIfAborted();
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  // The rename itself durable: fsync the folder (not possible on every platform; best effort).
  try {
    const d = await fs.open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // e.g. Windows, where folders cannot be opened for fsync
  }
  return path;
}

/** Read a checkpoint file's contents without applying them (tensors stay in the file until read). */
export async function readCheckpoint(path: string): Promise<CheckpointContents> {
  const store = await openCheckpoint(path);
  try {
    return await decodeCheckpoint(store);
  } catch (e) {
    await store.close();
    throw e;
  }
}

export type CheckpointLoadOptions = ApplyOptions;

export interface LoadedCheckpoint {
  path: string;
  step: number;
  config: CheckpointContents["config"];
  metrics: CheckpointContents["metrics"];
  /** The generators, restored (one or several by name, as saved), or undefined when none was saved. */
  rng: Random | Record<string, Random> | undefined;
}

/**
 * Load a checkpoint into `model` (and `opts.optimizer`): the config is
 * checked first when `opts.config` is given, then the model's keys and
 * shapes (every problem named in one error), then weights and optimizer
 * state are set.
 */
export async function loadCheckpoint(path: string, model: CheckpointInput["model"], opts: CheckpointLoadOptions = {}): Promise<LoadedCheckpoint> {
  const c = await readCheckpoint(path);
  try {
    await applyCheckpoint(model, c, opts);
    return { path, step: c.step, config: c.config, metrics: c.metrics, rng: c.rng ? restoreRng(c.rng) : undefined };
  } finally {
    await c.store.close();
  }
}

/**
 * The checkpoint of the highest step in `dir` (`ckpt-<step>.safetensors`, as
 * `checkpointPath` names them) that opens as a complete nextscale training
 * checkpoint, or undefined when there is none (or no such folder).
 * Temporary files of an interrupted save are ignored; a damaged file (cut
 * short, not a checkpoint) is skipped for the one before it, and reported
 * through `onSkip`.
 */
export async function latestCheckpoint(dir: string, opts: { onSkip?: (path: string, reason: string) => void } = {}): Promise<string | undefined> {
  const fs = await import("node:fs/promises");
  const { join } = await import("node:path");
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const found = names
    .map((n) => [n, NAME.exec(n)] as const)
    .filter((x): x is readonly [string, RegExpExecArray] => x[1] !== null)
    .map(([n, m]) => ({ path: join(dir, n), step: Number(m[1]) }))
    .sort((a, b) => b.step - a.step);
  for (const { path } of found) {
    try {
      const store = await openCheckpoint(path); // checks the header and that the data fills the file
      try {
        checkCheckpointHeader(store);
      } finally {
        await store.close();
      }
      return path;
    } catch (e) {
      opts.onSkip?.(path, (e as Error).message);
    }
  }
  return undefined;
}
