/**
 * The vitest configuration every package shares: tests run the workspace's
 * TypeScript sources, never its built dist, so an edit to one package is
 * seen by every other package's tests without a rebuild.
 *
 * Each library package's `exports` (and core's `imports` map `#open-path`)
 * lists a `"@nextscale/source"` condition first, pointing at `src/*.ts`;
 * vite resolves it when the condition is in its list. Vite 6+ keeps one list
 * per environment: `resolve.conditions` for the client (also what a vite
 * build for the browser uses) and `ssr.resolve.conditions` for the server
 * environment vitest runs Node tests in (vitest also passes the latter to its
 * workers as `node --conditions`). Both replace vite's defaults, so the
 * defaults are listed again.
 *
 * Builds (`tsc -p tsconfig.build.json`) never use the condition: each
 * package compiles alone to its dist, against its dependencies' dist.
 */
import { defaultClientConditions, defaultServerConditions, type UserConfig } from "vite";
import { defineConfig, mergeConfig, type ViteUserConfig } from "vitest/config";

/** The export condition that maps each workspace package to its sources. */
export const SOURCE_CONDITION = "@nextscale/source";

/** Resolve options for a vite build or dev server that should use the workspace's sources (browser). */
export const sourceResolve = { conditions: [SOURCE_CONDITION, ...defaultClientConditions] } satisfies UserConfig["resolve"];

/**
 * Whether test files run side by side (vitest's default). Not on webgpu: in CI
 * that is Dawn on SwiftShader, whose worker threads already use every core, so
 * files in parallel give no more throughput (the tokenizer's suite took 953 s
 * either way on a 2-core machine) and their times tangle; one at a time, each
 * test's time in the log is its own.
 */
export function parallelFiles(backend = process.env.NEXTSCALE_BACKEND): boolean {
  return backend !== "webgpu";
}

/**
 * A package's vitest config: its tests under src/, run against the sources
 * of every workspace package; `test` adds to or overrides the test options,
 * `extra` merges any other vite options.
 */
export function packageTestConfig(test: NonNullable<ViteUserConfig["test"]> = {}, extra: ViteUserConfig = {}): ViteUserConfig {
  return mergeConfig(
    defineConfig({
      resolve: sourceResolve,
      ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
      test: { include: ["src/**/*.test.ts"], fileParallelism: parallelFiles(), ...test },
    }),
    extra,
  );
}
