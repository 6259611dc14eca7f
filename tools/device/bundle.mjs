// Bundles tools/device/entry.mjs (the CLI, @nextscale/backend-native and the
// cuda check) into one file with rolldown (vite's bundler, in node_modules):
//   node tools/device/bundle.mjs OUT_FILE
// tfjs-core is aliased to one directory so that every package of the bundle
// shares one copy (one engine); webgpu (Dawn, a native addon) stays external.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pnpm = join(root, "node_modules", ".pnpm");
const dir = readdirSync(pnpm).find((d) => /^rolldown@/.test(d));
if (!dir) throw new Error("rolldown is not in node_modules/.pnpm (it comes with vite: pnpm install)");
const { rolldown } = await import(pathToFileURL(join(pnpm, dir, "node_modules", "rolldown", "dist", "index.mjs")).href);
const b = await rolldown({
  input: join(root, "tools", "device", "entry.mjs"),
  platform: "node",
  external: [/^node:/, "webgpu"],
  resolve: { alias: { "@tensorflow/tfjs-core": join(root, "packages", "backend-native", "node_modules", "@tensorflow", "tfjs-core") } },
  logLevel: "warn",
});
await b.write({ file: process.argv[2], format: "esm", codeSplitting: false });
