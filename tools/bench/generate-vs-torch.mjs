// d16 generation side by side in one run: `nextscale bench --preset d16
// --random-weights` (the built CLI) on each backend asked for, and
// tools/bench/generate_torch.py (the official FoundationVision/VAR code,
// PyTorch eager float32) with PyTorch's threads set to the machine's
// logical CPUs (at most 8, as our backends use). Interleaved per round
// (ours on each backend, then PyTorch). Prints each run's JSON on stderr and
// one JSON summary on stdout: seconds per image (medians over the rounds)
// and each backend's ratio to PyTorch (ours / PyTorch, below 1 is faster).
// Build first (pnpm build), then:
//   node tools/bench/generate-vs-torch.mjs [--backends native,wasm] [--rounds 1] [--repeats 3] [--batch 1] [--var-repo DIR]
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { officialCheckout, root, runJson } from "./side-by-side.mjs";

const { values } = parseArgs({
  options: {
    backends: { type: "string", default: "native,wasm" },
    rounds: { type: "string", default: "1" },
    repeats: { type: "string", default: "3" },
    batch: { type: "string", default: "1" },
    "var-repo": { type: "string" },
    python: { type: "string", default: "/usr/bin/python3" },
  },
});
const repo = officialCheckout(values["var-repo"]);
const threads = Math.min(8, availableParallelism());
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const backends = values.backends.split(",");
const ours = Object.fromEntries(backends.map((b) => [b, []]));
const torch = [];
const common = ["--preset", "d16", "--random-weights", "--batch", values.batch, "--repeats", values.repeats, "--json"];
for (let i = 0; i < Number(values.rounds); i++) {
  for (const b of backends) ours[b].push(runJson("node", [join(root, "packages/cli/dist/bin.js"), "bench", ...common, "--backend", b]));
  torch.push(runJson(values.python, [join(root, "tools/bench/generate_torch.py"), "--var-repo", repo, "--batch", values.batch, "--repeats", values.repeats, "--threads", String(threads)]));
}
const torchS = median(torch.map((r) => r.seconds_per_image));
const summary = {
  machine: readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1],
  logical_cpus: availableParallelism(),
  batch: Number(values.batch),
  pytorch: { torch: torch[0].torch, threads: torch[0].threads, seconds_per_image: torchS, rounds: torch.map((r) => r.seconds_per_image) },
  ...Object.fromEntries(
    backends.map((b) => {
      const s = median(ours[b].map((r) => r.seconds_per_image));
      return [b, { device: ours[b][0].backend?.device, seconds_per_image: s, rounds: ours[b].map((r) => r.seconds_per_image), ratio_to_pytorch: s / torchS }];
    }),
  ),
};
console.log(JSON.stringify(summary, null, 2));
