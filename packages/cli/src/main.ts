/**
 * The `nextscale` command. Subcommands are added as their packages land;
 * each prints a clear message and a non-zero exit code on bad input.
 */
import { parseArgs } from "node:util";
import { CheckpointFormatError, inspectCheckpoint, openCheckpoint } from "@nextscale/core";

const USAGE = `usage: nextscale <command> [options]

commands:
  info <file> [--no-keys]   print a JSON summary of a checkpoint (.pth, .safetensors, .npz, .npy):
                            kind guess (vae/var/inception/other), tensor and parameter counts,
                            dtype and every key's shape
  help                      show this message
`;

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "info":
      return info(rest, out);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      out(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      process.stderr.write(`nextscale: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

async function info(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { "no-keys": { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) {
    process.stderr.write("nextscale info: expected exactly one checkpoint file\n");
    return 2;
  }
  try {
    const store = await openCheckpoint(positionals[0]);
    const summary = inspectCheckpoint(store);
    await store.close();
    const { keys, ...rest } = summary;
    out(`${JSON.stringify(values["no-keys"] ? rest : { ...rest, keys }, null, 2)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof CheckpointFormatError) {
      process.stderr.write(`nextscale info: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
