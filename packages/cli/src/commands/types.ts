/** One `nextscale` subcommand. */
export interface Command {
  name: string;
  /** One line for `nextscale help`. */
  summary: string;
  /** Full usage text for `nextscale <name> --help`. */
  usage: string;
  /** The command prints its own --help (one per subcommand). */
  ownHelp?: boolean;
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(args: string[], io: CommandIO): Promise<number>;
}

export interface CommandIO {
  out(s: string): void;
  err(s: string): void;
}

/** An error whose message is shown to the user as is (exit status 1). */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
