/** Node: datasets read from the file system. */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { DatasetError } from "./errors.js";
import type { FileTree } from "./file-tree.js";

function fail(path: string, e: unknown): never {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") throw new DatasetError(`no such file or folder: ${path}`);
  if (code === "ENOTDIR") throw new DatasetError(`${path} is not a folder`);
  if (code === "EISDIR") throw new DatasetError(`${path} is a folder, not a file`);
  throw new DatasetError(`cannot read ${path}: ${(e as Error).message}`);
}

export const nodeFileTree: FileTree = {
  join: (...parts) => join(...parts),
  async list(dir) {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      fail(dir, e);
    }
    const out: { name: string; folder: boolean }[] = [];
    for (const e of entries) {
      // Follow symbolic links (torchvision walks with followlinks=True).
      const folder = e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => null))?.isDirectory() === true);
      out.push({ name: e.name, folder });
    }
    return out;
  },
  async read(path) {
    try {
      return new Uint8Array(await readFile(path));
    } catch (e) {
      fail(path, e);
    }
  },
};
