import { parseArgs } from "node:util";
import { inspectCheckpoint, openCheckpoint } from "@nextscale/core";
import { type Command, UsageError } from "./types.js";

export const info: Command = {
  name: "info",
  summary: "print a JSON summary of a checkpoint (.pth, .safetensors, .npz, .npy)",
  usage: `usage: nextscale info <file> [--no-keys]

Prints JSON: file, format, kind (vae/var/inception/other), tensors, params
(learnable; known buffers excluded), elements, bytes, dtype, dtypes, keys
(name -> shape). --no-keys leaves out the key list.`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { "no-keys": { type: "boolean", default: false } },
    });
    if (positionals.length !== 1) throw new UsageError("expected exactly one checkpoint file");
    const store = await openCheckpoint(positionals[0]);
    try {
      const { keys, ...rest } = inspectCheckpoint(store);
      io.out(`${JSON.stringify(values["no-keys"] ? rest : { ...rest, keys }, null, 2)}\n`);
    } finally {
      await store.close();
    }
    return 0;
  },
};
