/**
 * Where datasets read files from. In Node the default is the file system
 * (`#file-tree`); in the browser pass your own (over fetch, a directory
 * handle, an in-memory map).
 */
import { DatasetError } from "./errors.js";
export interface FileTree {
  /** Join path parts. */
  join(...parts: string[]): string;
  /** The entries of a folder (names, and whether each is a folder). */
  list(dir: string): Promise<{ name: string; folder: boolean }[]>;
  /** A file's bytes. */
  read(path: string): Promise<Uint8Array>;
}

/** A FileTree over an in-memory map of path → bytes (folders are implied by the paths; separator "/"). */
export function memoryFileTree(files: Record<string, Uint8Array>): FileTree {
  const norm = (p: string) => p.replace(/\/+/g, "/").replace(/\/$/, "");
  const map = new Map(Object.entries(files).map(([k, v]) => [norm(k), v]));
  return {
    join: (...parts) => norm(parts.join("/")),
    async list(dir) {
      const d = norm(dir);
      const out = new Map<string, boolean>();
      for (const k of map.keys()) {
        if (!k.startsWith(`${d}/`)) continue;
        const rest = k.slice(d.length + 1).split("/");
        out.set(rest[0], (out.get(rest[0]) ?? false) || rest.length > 1);
      }
      if (out.size === 0 && !map.has(d)) {
        throw new DatasetError(`no such file or folder: ${dir}`);
      }
      return [...out].map(([name, folder]) => ({ name, folder }));
    },
    async read(path) {
      const b = map.get(norm(path));
      if (!b) {
        throw new DatasetError(`no such file: ${path}`);
      }
      return b;
    },
  };
}
