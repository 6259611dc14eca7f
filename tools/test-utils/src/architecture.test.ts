/**
 * The import rules of docs/architecture.md, checked on the sources: what
 * each published package may import, and that it imports only what its
 * package.json declares. A static check: it runs no backend.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const TFJS = "@tensorflow/tfjs-core";

/** docs/architecture.md, "What each package may import" (tfjs-core is allowed everywhere). */
const ALLOWED: Record<string, string[]> = {
  "@nextscale/contract": [],
  "@nextscale/core": ["@nextscale/contract", "fast-png", "jpeg-js"],
  "@nextscale/backends": [
    "@nextscale/contract",
    "@tensorflow/tfjs-backend-cpu",
    "@tensorflow/tfjs-backend-wasm",
    "@tensorflow/tfjs-backend-webgpu",
    "webgpu",
  ],
  "@nextscale/backend-native": ["@nextscale/contract", "@tensorflow/tfjs-backend-cpu"],
  "@nextscale/tokenizer": ["@nextscale/core"],
  "@nextscale/transformer": ["@nextscale/core"],
  "@nextscale/eval": ["@nextscale/core"],
  "@nextscale/sampler": ["@nextscale/core", "@nextscale/tokenizer", "@nextscale/transformer", "@nextscale/model-fashion-mnist"],
  "@nextscale/model-fashion-mnist": ["@nextscale/core", "@nextscale/eval"],
  "@nextscale/train": ["@nextscale/core", "@nextscale/tokenizer", "@nextscale/transformer"],
  "@nextscale/cli": [
    "@nextscale/core",
    "@nextscale/backends",
    "@nextscale/tokenizer",
    "@nextscale/transformer",
    "@nextscale/sampler",
    "@nextscale/train",
    "@nextscale/eval",
    "@nextscale/model-fashion-mnist",
  ],
};

/** The workspace's own tools (vitest, …): test files may import them. */
const ROOT_DEV = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies ?? {});
const isTestFile = (f: string) => /\.test\.ts$|\.testutil\.ts$|[\\/]test-setup\.ts$/.test(f);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

/** The packages a source file imports (bare specifiers, reduced to the package name; types included). */
function importedPackages(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:^|\s)(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm)].map(
    (m) => m[1] ?? m[2] ?? m[3],
  );
  return specs
    .filter((s) => !s.startsWith(".") && !s.startsWith("node:") && !s.startsWith("#"))
    .map((s) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]));
}

const packages = readdirSync(join(ROOT, "packages"))
  .map((d) => join(ROOT, "packages", d))
  .filter((d) => statSync(d).isDirectory() && existsSync(join(d, "package.json")))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter((p) => !p.json.private);

describe("architecture (static: no backend runs)", () => {
  it("every published package is in the table of docs/architecture.md", () => {
    console.log("backend: none (a static check of the sources)");
    expect(packages.map((p) => p.json.name).sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  for (const { dir, json } of packages) {
    it(`${json.name} imports only what it may and what it declares`, () => {
      const declared = new Set([
        ...Object.keys(json.dependencies ?? {}),
        ...Object.keys(json.peerDependencies ?? {}),
        ...Object.keys(json.optionalDependencies ?? {}),
      ]);
      const devDeclared = new Set([...declared, ...Object.keys(json.devDependencies ?? {}), ...ROOT_DEV]);
      const allowed = new Set([...(ALLOWED[json.name] ?? []), TFJS]);
      const problems: string[] = [];
      for (const file of sources(join(dir, "src"))) {
        const rel = file.slice(ROOT.length + 1);
        for (const pkg of importedPackages(file)) {
          if (isTestFile(file)) {
            if (!devDeclared.has(pkg) && pkg !== json.name) problems.push(`${rel}: imports ${pkg}, not in package.json`);
            continue;
          }
          if (!allowed.has(pkg)) problems.push(`${rel}: imports ${pkg}, which ${json.name} may not (docs/architecture.md)`);
          else if (!declared.has(pkg)) problems.push(`${rel}: imports ${pkg}, not a dependency or peer in package.json`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
