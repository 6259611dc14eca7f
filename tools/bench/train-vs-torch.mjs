// The training-step benchmark side by side: `nextscale bench --train` (the
// built CLI) and tools/bench/train_step_torch.py (PyTorch, the official
// FoundationVision/VAR model code) on the same configurations, interleaved
// in one run (ts, torch, ts, torch, … per configuration), with PyTorch's
// thread count set to the wasm backend's. Prints each run's JSON on stderr
// and one JSON summary with the ratios (nextscale step_ms / PyTorch step_ms,
// medians over the rounds) on stdout. Build first (pnpm -r build), then:
//   node tools/bench/train-vs-torch.mjs [--rounds 2] [--backend wasm] [--only var|vqvae] [--var-repo DIR]
// Without --var-repo the official code is extracted from the mirror
// (/work/.mirror/FoundationVision+VAR/repo, or VAR_MIRROR) into a temporary folder.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { officialCheckout, root, runJson } from "./side-by-side.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    backend: { type: "string", default: "wasm" },
    only: { type: "string" },
    "var-repo": { type: "string" },
    python: { type: "string", default: "/usr/bin/python3" },
    steps: { type: "string", default: "5" },
  },
});
const repo = officialCheckout(values["var-repo"]);
const threads = Math.min(8, availableParallelism()); // the wasm backend's default
const CONFIGS = {
  var: ["--train", "var", "--depth", "4", "--width", "256", "--vocab", "512", "--cvae", "16", "--patch-nums", "1,2,3,4", "--batch", "32"],
  vqvae: ["--train", "vqvae", "--ch", "32", "--ch-mult", "1,2,2", "--image", "32", "--vocab", "512", "--z", "16", "--patch-nums", "1,2,3,4,5,6,8", "--batch", "32"],
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = { machine: null, threads, rounds: Number(values.rounds), results: {} };
for (const [name, args] of Object.entries(CONFIGS)) {
  if (values.only && values.only !== name) continue;
  const ts = [];
  const torch = [];
  for (let i = 0; i < Number(values.rounds); i++) {
    ts.push(runJson("node", [join(root, "packages/cli/dist/bin.js"), "bench", ...args, "--steps", values.steps, "--backend", values.backend, "--json"]));
    torch.push(runJson(values.python, [join(root, "tools/bench/train_step_torch.py"), "--var-repo", repo, ...args, "--steps", values.steps, "--threads", String(threads)]));
  }
  summary.machine ??= { cpu: ts[0].machine.cpu, cores: ts[0].machine.cores, model_name: readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] };
  const tsMs = median(ts.map((r) => r.step_ms));
  const torchMs = median(torch.map((r) => r.step_ms));
  summary.results[name] = {
    config: ts[0].config,
    nextscale: { backend: ts[0].backend.name, device: ts[0].backend.device, step_ms: tsMs, images_per_second: (ts[0].config.batch * 1000) / tsMs, peak_rss_mb: Math.max(...ts.map((r) => r.peak_rss_mb)), optimizer: ts[0].optimizer, step_ms_rounds: ts.map((r) => r.step_ms) },
    pytorch: { version: torch[0].backend.version, threads: torch[0].backend.threads, step_ms: torchMs, images_per_second: (ts[0].config.batch * 1000) / torchMs, peak_rss_mb: Math.max(...torch.map((r) => r.peak_rss_mb)), step_ms_rounds: torch.map((r) => r.step_ms) },
    ratio: tsMs / torchMs,
  };
  console.error(`${name}: nextscale ${tsMs.toFixed(0)} ms, PyTorch ${torchMs.toFixed(0)} ms per step: ${(tsMs / torchMs).toFixed(2)}× PyTorch's time`);
}
console.log(JSON.stringify(summary, null, 1));
