/**
 * Argument parsing shared by the commands: node:util's parseArgs, except that
 * a value that starts with "-" followed by a digit (`--class -1`, `--seed -5`)
 * is taken as the value of the flag before it rather than as an option.
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** `--flag -1` -> `--flag=-1` for the flags that take a value. */
export function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const takesValue = (a: string) => {
    if (a.startsWith("--")) return !a.includes("=") && options[a.slice(2)]?.type === "string";
    if (/^-[A-Za-z]$/.test(a)) return Object.values(options).some((o) => o.short === a.slice(1) && o.type === "string");
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (next !== undefined && takesValue(a) && /^-(\d|\.\d)/.test(next)) {
      out.push(a.startsWith("--") ? `${a}=${next}` : `${a}${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * node:util's parseArgs with negative numbers accepted as values (see
 * `joinNegativeValues`); the same signature and result types.
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  const args = joinNegativeValues(config.args ?? process.argv.slice(2), config.options ?? {});
  return nodeParseArgs({ ...config, args } as T);
}
