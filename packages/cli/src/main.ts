/**
 * The `nextscale` command: a registry of subcommands (`commands/`), each
 * printing a clear message and a non-zero exit code on bad input.
 */
import { createRequire } from "node:module";
import { BackendUnavailableError } from "@nextscale/backends";
import { CheckpointFormatError, ImageFormatError, ModelDownloadError, ModelNotCachedError, StateDictError } from "@nextscale/core";
import { EditMaskError, GenerationCancelledError, UnknownClassError } from "@nextscale/sampler";
import { VqvaeInputError } from "@nextscale/tokenizer";
import { COMMANDS } from "./commands/index.js";
import { type CommandIO, UsageError } from "./commands/types.js";

/** This package's version, and those of the packages it runs (`nextscale --version`). */
function version(): string {
  const require = createRequire(import.meta.url);
  const own = (require("../package.json") as { version: string }).version;
  const of = (pkg: string) => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return "not installed";
    }
  };
  const deps = ["@nextscale/core", "@nextscale/sampler", "@nextscale/backends", "@tensorflow/tfjs-core"].map((p) => `${p} ${of(p)}`);
  return `nextscale ${own} (${deps.join(", ")}; Node ${process.versions.node})`;
}

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: nextscale <command> [options]\n\ncommands:\n${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}\n  ${"help".padEnd(w)}  show this message (nextscale <command> --help for one command)\n\n  --version  the version of nextscale and of the packages it runs\n`;
}

/** Errors that come from the user's input: shown as one line, exit status 1. */
const USER_ERRORS = [
  BackendUnavailableError,
  CheckpointFormatError,
  EditMaskError,
  GenerationCancelledError,
  ImageFormatError,
  ModelDownloadError,
  ModelNotCachedError,
  StateDictError,
  UnknownClassError,
  UsageError,
  VqvaeInputError,
];

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v" || name === "version") {
    out(`${version()}\n`);
    return 0;
  }
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    out(usage());
    return name === undefined ? 1 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    err(`nextscale: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (!cmd.ownHelp && (rest.includes("--help") || rest.includes("-h"))) {
    out(`${cmd.usage}\n`);
    return 0;
  }
  const io: CommandIO = { out, err };
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    const parseError = !!(e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!parseError && !USER_ERRORS.some((E) => e instanceof E)) throw e;
    err(`nextscale ${name}: ${(e as Error).message}\n`);
    return e instanceof UsageError ? e.exitCode : parseError ? 2 : 1;
  }
}
