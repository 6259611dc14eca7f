/**
 * Output files: checked before any long work starts (a missing folder, a
 * format we do not write), and written atomically (a temporary file renamed
 * into place), so a failed or interrupted run leaves no half-written file.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { UsageError } from "./commands/types.js";

/**
 * Check that `path` can be written as a file of one of `extensions` (with the
 * dot, lower case; the first is the one suggested): its folder exists and it
 * is not itself a folder. Throws a UsageError (exit status 1) naming the flag.
 */
export function checkOutputFile(path: string, flag: string, extensions: readonly string[] = [".png"]): void {
  const ext = extname(path).toLowerCase();
  if (!extensions.includes(ext)) {
    const what = ext === ".jpg" || ext === ".jpeg" ? "JPEG" : ext ? `"${ext}"` : "a file without an extension";
    throw new UsageError(
      `${flag} ${path}: nextscale does not write ${what}; it writes ${extensions.map((e) => e.slice(1).toUpperCase()).join(" or ")}: name the file ${path.slice(0, path.length - ext.length) || "out"}${extensions[0]}`,
      1,
    );
  }
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new UsageError(`${flag} ${path}: the folder ${dirname(path)} does not exist (create it first)`, 1);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${flag} ${path}: ${dirname(path)} is not a folder`, 1);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${flag} ${path} is a folder; pass a file name`, 1);
}

/** Check (and create) an output folder: its path must not be a file. */
export function prepareOutputDir(dir: string, flag: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir} is a file, not a folder`, 1);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`${flag} ${dir}: cannot create the folder (${(e as Error).message})`, 1);
  }
}

/** Write `bytes` to `path` through a temporary file in the same folder, renamed into place. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
