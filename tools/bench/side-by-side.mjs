// Shared by the side-by-side benchmarks (generate-vs-torch.mjs, train-vs-torch.mjs).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const root = new URL("../../", import.meta.url).pathname;

/** The official FoundationVision/VAR code: `repo` when given, else an export of the mirror ($VAR_MIRROR) to a temporary folder. */
export function officialCheckout(repo) {
  if (repo) return repo;
  const mirror = process.env.VAR_MIRROR ?? "/work/.mirror/FoundationVision+VAR/repo";
  const dir = mkdtempSync(join(tmpdir(), "var-official-"));
  execFileSync("sh", ["-c", `git -C "${mirror}" archive HEAD | tar -x -C "${dir}"`]);
  return dir;
}

/** Run a command from the repository root; its last stdout line is JSON: echoed on stderr and returned. */
export function runJson(cmd, args) {
  const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 });
  const r = JSON.parse(out.trim().split("\n").pop());
  process.stderr.write(`${JSON.stringify(r)}\n`);
  return r;
}
