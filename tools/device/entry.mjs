// The one bundle the GPU machine runs (tools/device/pack.sh bundles it with
// rolldown into .device/app/bin/nextscale.mjs): the CLI, and `check`, the
// cuda kernels against tfjs-backend-cpu on the real device (cuda-check.mjs).
// @nextscale/backend-native is bundled here and handed to the backends'
// loader (which imports it by name at run time) through a shim package,
// .device/app/node_modules/@nextscale/backend-native, so that both see one
// copy of tfjs-core.
import * as native from "../../packages/backend-native/dist/index.js";

globalThis.__nextscaleNative = native;
const mode = process.argv[2];
process.argv.splice(2, 1);
if (mode === "check") {
  const { runChecks } = await import("./cuda-check.mjs");
  process.exitCode = await runChecks(process.argv.slice(2));
} else if (mode === "cli") {
  // main, not bin.js: the CLI package declares no side effects, so a bundler drops an import of bin.js
  const { main } = await import("../../packages/cli/dist/main.js");
  process.exitCode = await main(process.argv.slice(2));
} else {
  console.error("usage: nextscale.mjs check [--emulate] | cli <nextscale arguments>");
  process.exitCode = 2;
}
