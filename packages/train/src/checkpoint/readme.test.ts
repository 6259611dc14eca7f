/**
 * The README's checkpoint example runs as written (against the sources:
 * `@nextscale/train` resolved to src/index.ts, the fixture path to
 * test-fixtures; the backend is the test's, so its initBackend line is left
 * to the test setup).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES } from "@nextscale/test-utils";
import { expect, it } from "vitest";

const PKG = resolve(fileURLToPath(new URL("../..", import.meta.url)));

it("README: the checkpoint example (official ar-ckpt in, ours saved / found / loaded, a .pth out)", async () => {
  const md = readFileSync(join(PKG, "README.md"), "utf8");
  const section = md.slice(md.indexOf("## Checkpoints"));
  expect(section.length).toBeGreaterThan(20);
  const start = section.indexOf("```ts\n") + 6;
  const code = section.slice(start, section.indexOf("\n```", start));
  const src = code
    .replace(`import { initBackend } from "@nextscale/backends";`, "const initBackend = async (_: string[]) => {};")
    .replace(`from "@nextscale/train"`, `from ${JSON.stringify(join(PKG, "src/index.ts"))}`)
    .replace(`"test-fixtures/train-interop/ar-ckpt-last.pth"`, JSON.stringify(join(FIXTURES, "train-interop", "ar-ckpt-last.pth")));
  const dir = mkdtempSync(join(PKG, "src", ".readme-ckpt-"));
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.map(String).join(" "));
  try {
    writeFileSync(join(dir, "example.ts"), src);
    await import(/* @vite-ignore */ join(dir, "example.ts"));
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
  log(lines.join("\n"));
  expect(lines).toEqual(["1 2 34", "1 true", "wrote true"]);
});
