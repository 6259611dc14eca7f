/**
 * Run a ```ts example of this package's README as written, against the
 * sources: `@nextscale/train` resolved to src/index.ts, the quoted
 * `test-fixtures/…` paths to the repository's fixtures, and the initBackend
 * line left to the test setup (the backend is the test's). Returns what the
 * example printed with console.log (also printed after the run).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES } from "@nextscale/test-utils";

const PKG = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** The first ```ts block after the README heading that starts with `heading`, run; its console.log lines. */
export async function runReadmeExample(heading: string, fixtures: readonly string[] = []): Promise<string[]> {
  const md = readFileSync(join(PKG, "README.md"), "utf8");
  const at = md.indexOf(`## ${heading}`);
  if (at < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const section = md.slice(at);
  const start = section.indexOf("```ts\n") + 6;
  let src = section
    .slice(start, section.indexOf("\n```", start))
    .replace(`import { initBackend } from "@nextscale/backends";`, "const initBackend = async (_: string[]) => {};")
    .replace(`from "@nextscale/train"`, `from ${JSON.stringify(join(PKG, "src/index.ts"))}`);
  for (const f of fixtures) src = src.replace(JSON.stringify(`test-fixtures/${f}`), JSON.stringify(join(FIXTURES, f)));
  const dir = mkdtempSync(join(PKG, "src", ".readme-"));
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
  return lines;
}
