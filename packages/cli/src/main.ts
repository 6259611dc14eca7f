/**
 * The `nextscale` command: a registry of subcommands (`commands/`), each
 * printing a clear message and a non-zero exit code on bad input.
 */
import { createRequire } from "node:module";
import { BackendUnavailableError } from "@nextscale/backends";
import * as tf from "@tensorflow/tfjs-core";
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

/**
 * What tfjs-backend-wasm throws when its heap (WebAssembly memory: at most
 * 4 GB) is full: a RangeError or WebAssembly.RuntimeError about bounds
 * rather than an out-of-memory error. Returns a message that says so, or
 * undefined for any other error or backend.
 */
export function explainWasmMemoryError(e: unknown, backend: string = tf.getBackend()): string | undefined {
  if (backend !== "wasm") return undefined;
  const runtime = typeof WebAssembly !== "undefined" && e instanceof WebAssembly.RuntimeError;
  if (!(runtime || e instanceof RangeError)) return undefined;
  const m = (e as Error).message;
  if (!/out of bounds|cannot enlarge memory|out of memory/i.test(m)) return undefined;
  return `the wasm backend ran out of memory (${e instanceof RangeError ? "RangeError" : "WebAssembly.RuntimeError"}: ${m}): WebAssembly memory is at most 4 GB. Try a smaller --batch, or --backend native (no such limit) where it is built`;
}

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
    const memory = explainWasmMemoryError(e);
    if (memory) {
      err(`nextscale ${name}: ${memory}\n`);
      return 1;
    }
    const parseError = !!(e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    if (!parseError && !USER_ERRORS.some((E) => e instanceof E)) throw e;
    err(`nextscale ${name}: ${(e as Error).message}\n`);
    return e instanceof UsageError ? e.exitCode : parseError ? 2 : 1;
  }
}
