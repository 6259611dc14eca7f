/** Test helper: run the CLI in-process and capture stdout, stderr and the exit code. */
import { main } from "./main.js";

export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(
    args,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out, err };
}
