/**
 * The README's stage-2 example runs as written (against the sources; the
 * backend is the test's, so its initBackend line is left to the test setup).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { FIXTURES } from "@nextscale/test-utils";
import { expect, it } from "vitest";

const PKG = resolve(fileURLToPath(new URL("..", import.meta.url)));

it("README: the stage-2 (VAR) training example", async () => {
  const md = readFileSync(join(PKG, "README.md"), "utf8");
  const section = md.slice(md.indexOf("## Stage 2: the VAR"));
  const start = section.indexOf("```ts\n") + 6;
  const code = section.slice(start, section.indexOf("\n```", start));
  const src = code
    .replace(`import { initBackend } from "@nextscale/backends";`, "const initBackend = async (_: string[]) => {};")
    .replace(`from "@nextscale/train"`, `from ${JSON.stringify(join(PKG, "src/index.ts"))}`)
    .replace(`"test-fixtures/var-tiny/vae.pth"`, JSON.stringify(join(FIXTURES, "var-tiny", "vae.pth")))
    .replace(`"test-fixtures/fashion-mnist-slice"`, JSON.stringify(join(FIXTURES, "fashion-mnist-slice")));
  const dir = mkdtempSync(join(PKG, "src", ".readme-var-"));
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
  expect(lines[0]).toBe("8 false");
  expect(lines.filter((l) => l.startsWith("step ")).length).toBe(8);
  expect(lines.at(-2)).toBe("true 8");
  expect(lines.at(-1)).toBe("8 4");
}, 600_000); // SwiftShader (webgpu in CI) takes ~10 s per VQ-VAE image
