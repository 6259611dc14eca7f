/** Browser: there is no file system; give the datasets a FileTree (e.g. over fetch or a directory handle) or bytes. */
import { DatasetError } from "./errors.js";
import type { FileTree } from "./file-tree.js";

const none = (path: string): never => {
  throw new DatasetError(`cannot read "${path}" by path in the browser: pass a FileTree (options.files) or the file's bytes`);
};

export const nodeFileTree: FileTree = {
  join: (...parts) => parts.join("/").replace(/\/+/g, "/"),
  list: async (dir) => none(dir),
  read: async (path) => none(path),
};
