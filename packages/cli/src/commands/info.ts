import { parseArgs } from "node:util";
import { listBackends } from "@nextscale/backends";
import { inspectCheckpoint, openCheckpoint } from "@nextscale/core";
import { type Command, UsageError } from "./types.js";

export const info: Command = {
  name: "info",
  summary: "print a JSON summary of a checkpoint (.pth, .safetensors, .npz, .npy)",
  usage: `usage: nextscale info <file> [--no-keys]
       nextscale info --backends

Prints JSON: file, format, kind (vae/var/inception/other), tensors, params
(learnable; known buffers excluded), elements, bytes, dtype, dtypes, keys
(name -> shape). --no-keys leaves out the key list.
--backends prints the compute backends instead: a list of {name, available,
reason, built} for cuda, webgpu, wasm and cpu (reason says why one cannot
run, or what it runs on).`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { "no-keys": { type: "boolean", default: false }, backends: { type: "boolean", default: false } },
    });
    if (values.backends) {
      if (positionals.length) throw new UsageError("--backends takes no file");
      io.out(`${JSON.stringify(await listBackends(), null, 2)}\n`);
      return 0;
    }
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
