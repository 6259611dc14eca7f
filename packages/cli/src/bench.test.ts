import { cpus } from "node:os";
import { Random } from "@nextscale/core";
import { vqvaeConfigFromKwargs } from "@nextscale/tokenizer";
import { referenceBundles } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { type BenchResult, randomVqvae, summaryLines, valuesProgress } from "./commands/bench.js";
import { runCli } from "./run.testutil.js";

const run = runCli;

// The tiny bundle (there is no d16 in the tests: the command is the same, only the sizes differ).
const bundle = referenceBundles().find((b) => b.name === "var-tiny") ?? referenceBundles()[0];
const models = ["--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth")];
const patchNums: number[] = bundle.meta.var.patch_nums;
const backend = tf.getBackend(); // the one test-setup initialised (NEXTSCALE_BACKEND, else wasm then cpu)

/** stderr carries progress only: the progress lines of loading or building, and which run is going on. */
const PROGRESS = /^(loading \S+|building d\d+: (VAR|VQ-VAE)) \[[#-]{24}\] \S+( [kMG]?B)?\/\S+( [kMG]?B)? \d+% .* ETA \S+$|^run \d+\/\d+( \(first, cold\))? …$/;

/** Lines printed more than once over both streams (blank lines aside). */
function repeatedLines(...streams: string[]): string[] {
  const lines = streams.flatMap((s) => s.split("\n").map((l) => l.trim())).filter(Boolean);
  return [...new Set(lines.filter((l, i) => lines.indexOf(l) !== i))];
}

/** Figures with a unit (durations, sizes, ratios) printed more than once outside the per-scale table. */
function repeatedFigures(summary: string): string[] {
  const text = summary
    .split("\n")
    .filter((l) => !/^\s+\d+×\d+ /.test(l))
    .join("\n");
  const figures: string[] = text.match(/\d+(\.\d+)?\s?(ms|s|GB|MB|kB|B|×)(?![\w×])/g) ?? [];
  return [...new Set(figures.filter((f, i) => figures.indexOf(f) !== i))];
}

describe("nextscale bench", () => {
  it("--json: one object with seconds per image, per-scale times, memory, machine and backend", async () => {
    const r = await run(["bench", ...models, "--batch", "3", "--repeats", "3", "--backend", backend, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    // The results are on stdout once, as JSON; stderr has progress only (no figure of the results).
    const errLines = r.err.trim().split("\n");
    for (const l of errLines) expect(l).toMatch(PROGRESS);
    expect(errLines.filter((l) => l.startsWith("run "))).toEqual(["run 1/3 (first, cold) …", "run 2/3 …", "run 3/3 …"]);
    expect(r.err).toMatch(/^loading var\.pth \[#{24}\] (.+)\/\1 100% /m);
    expect(r.err).toMatch(/^loading vae\.pth \[#{24}\] (.+)\/\1 100% /m);
    expect(repeatedLines(r.out, r.err)).toEqual([]);
    const j = JSON.parse(r.out);
    console.log(`[bench] ${bundle.name} on ${j.backend.name}: ${j.seconds_per_image} s/image, ${j.tokens_per_s} tok/s`);
    expect(j.backend.name).toBe(backend);
    expect(j.preset).toBeNull();
    expect(j.model.depth).toBe(bundle.meta.var.depth);
    expect(j.model.patch_nums).toEqual(patchNums);
    expect(j.model.tokens_per_image).toBe(patchNums.reduce((s, p) => s + p * p, 0));
    expect(j.settings).toMatchObject({ batch: 3, cfg: 1.5, top_k: 900, top_p: 0.96, repeats: 3, scales: patchNums.length });
    // Warm runs 2 and 3 give seconds_per_image; the cold run is reported apart.
    expect(j.warm_runs_seconds).toHaveLength(2);
    expect(j.seconds_per_image_from).toBe("median of 2 warm runs");
    const sorted = [...j.warm_runs_seconds].sort((a: number, b: number) => a - b);
    expect(j.seconds_per_image).toBeCloseTo((sorted[0] + sorted[1]) / 2 / 3, 2);
    expect(j.first_run.seconds).toBeGreaterThan(0);
    expect(j.per_scale.map((s: { patch_num: number }) => s.patch_num)).toEqual(patchNums);
    for (const s of j.per_scale) {
      expect(s.tokens).toBe(3 * s.patch_num ** 2);
      expect(s.ms).toBeGreaterThan(0);
      expect(s.first_ms).toBeGreaterThan(0);
      expect(s.first_rss_bytes).toBeGreaterThan(0);
    }
    expect(j.decode_ms).toBeGreaterThan(0);
    expect(j.cpu_utilisation).toBeGreaterThan(0);
    expect(j.memory.first_run_rss_after_decode_bytes).toBeGreaterThan(0);
    expect(j.memory.rss_peak_bytes).toBeGreaterThanOrEqual(j.memory.rss_after_setup_bytes);
    // Medians per scale need not add up to the median total exactly, but they are of its order.
    expect(j.transformer_ms + j.decode_ms).toBeLessThan(2 * j.seconds_per_image * 3 * 1000 + 50);
    const L = j.model.tokens_per_image;
    expect(j.tokens_per_s).toBeCloseTo((3 * L) / ((j.transformer_ms + j.decode_ms) / 1000), -1);
    // The weights live in tfjs, so its high-water mark is at least their fp32 size; RSS holds the runtime too.
    expect(j.memory.weights_fp32_bytes).toBe(4 * (j.model.var_params + j.model.vae_params));
    expect(j.memory.tf_peak_bytes).toBeGreaterThanOrEqual(j.memory.weights_fp32_bytes);
    expect(j.memory.rss_peak_bytes).toBeGreaterThan(j.memory.weights_fp32_bytes);
    expect(j.memory.max_rss_bytes).toBeGreaterThanOrEqual(j.memory.max_rss_after_setup_bytes);
    expect(j.machine.cores).toBe(cpus().length);
    expect(j.machine.node).toBe(process.version);
    expect(j.machine.load_average_end).toHaveLength(3);
    expect(Number.isNaN(Date.parse(j.date))).toBe(false);
  });

  it("prints a summary, each piece of information once; --repeats 1 reports the only run; --scales K stops early without a decode", async () => {
    const one = await run(["bench", ...models, "--repeats", "1", "--backend", backend]);
    expect(one.code, one.err).toBe(0);
    console.log(`[bench] summary on ${backend}:\n${one.out}`);
    expect(one.out).toMatch(/^seconds_per_image: [\d.]+ s \(the only run, cold: --repeats 1\)$/m);
    expect(one.out).toMatch(/^tokens\/s: [\d.]+ \(decode included\); CPU time \/ wall time [\d.]+$/m);
    expect(one.out).toMatch(/^memory: fp32 weights [\d.]+ [kMG]B; peak tfjs .*; peak RSS ([\d.]+ [kMG]B|the same as after setup), [\d.]+× the weights \(.*loading included\)$/m);
    expect(one.out).toMatch(/^setup: [\d.]+ s \(loading the checkpoints; not timed below\)$/m);
    expect(one.out).toMatch(/^model: depth \d+, width \d+, \d+ heads, \d+ tokens per image, \d+×\d+ images; /m);
    // One run: one time column per scale (not the same figure twice), and no "first run" beside it.
    const rows = one.out.split("\n").filter((l) => /^\s+\d+×\d+ /.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/)[0])).toEqual(patchNums.map((p) => `${p}×${p}`));
    for (const l of rows) expect(l.match(/ ms/g)).toHaveLength(1);
    expect(one.out).not.toMatch(/first run/);
    // The backend, the machine's cores, the run: each said once over stdout and stderr together.
    const both = one.out + one.err;
    const info = JSON.parse((await run(["bench", ...models, "--repeats", "1", "--scales", "1", "--backend", backend, "--json"])).out).backend;
    expect(both.split(info.device).length - 1).toBe(1);
    expect(both.match(new RegExp(`backend: ${backend} `, "g"))).toHaveLength(1);
    expect(both.match(/\d+ cores/g)).toHaveLength(1);
    for (const l of one.err.trim().split("\n")) expect(l).toMatch(PROGRESS);
    expect(one.err).toMatch(/^run 1\/1 \(first, cold\) …$/m);
    expect(repeatedLines(one.out, one.err)).toEqual([]);
    expect(repeatedFigures(one.out)).toEqual([]);

    // Warm runs: their median, the spread, the cold run, each once.
    const three = await run(["bench", ...models, "--repeats", "3", "--backend", backend]);
    expect(three.code, three.err).toBe(0);
    expect(three.out).toMatch(/^seconds_per_image: [\d.]+ s \(median of runs 2…3, warm(: .*)?\); first run, cold: /m);
    expect(three.out).toMatch(/^per scale \(ms: warm median, first run; /m);
    expect(repeatedLines(three.out, three.err)).toEqual([]);
    expect(repeatedFigures(three.out)).toEqual([]);

    const part = await run(["bench", ...models, "--scales", "2", "--repeats", "2", "--backend", backend, "--json"]);
    expect(part.code, part.err).toBe(0);
    const j = JSON.parse(part.out);
    expect(j.seconds_per_image).toBeNull();
    expect(j.decode_ms).toBeNull();
    expect(j.per_scale).toHaveLength(2);
    expect(j.settings.scales).toBe(2);
    expect(j.tokens_per_s).toBeGreaterThan(0);
  });

  it("clear one-line errors: unknown preset, missing or conflicting weights, bad numbers, preset mismatch", async () => {
    const cases: [string[], number, RegExp][] = [
      [["--preset", "d17", "--random-weights"], 2, /unknown preset "d17" \(known: d16, d20, d24, d30, d36\)/],
      [[], 1, /pass --random-weights .* or both --vae F and --var F/],
      [["--vae", bundle.file("vae.pth")], 1, /or both --vae F and --var F/],
      [["--random-weights", ...models], 2, /either --random-weights or --vae and --var, not both/],
      [["--random-weights", "--batch", "0"], 2, /--batch must be a positive integer \(got "0"\)/],
      [["--random-weights", "--repeats", "x"], 2, /--repeats must be a positive integer \(got "x"\)/],
      [["--random-weights", "--seed", "1.5"], 2, /--seed must be an integer/],
      [["--random-weights", "--scales", "11"], 2, /--scales must be at most 10/],
      [[...models, "--scales", String(patchNums.length + 1), "--backend", backend], 2, /--scales must be at most \d+ \(the model's scales\)/],
      [[...models, "--preset", "d16", "--backend", backend], 2, /--preset d16 does not match the checkpoint \(depth \d+, width \d+/],
      [[...models, "--backend", "cuda"], 1, /cuda/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await run(["bench", ...args]);
      expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(code);
      expect(r.err).toMatch(msg);
      expect(r.err).toMatch(/^nextscale bench: /m);
      expect(r.out).toBe("");
    }
  });

  it("summaryLines: figures that happen to be equal are printed once (the later one names the first)", () => {
    const j: BenchResult = {
      preset: "d16",
      weights: "random",
      model: { depth: 16, embed_dim: 1024, heads: 16, patch_nums: [1, 2], tokens_per_image: 5, image_size: 32, var_params: 100, vae_params: 25 },
      settings: { batch: 2, cfg: 1.5, top_k: 900, top_p: 0.96, seed: 0, repeats: 4, scales: 2, packed_weights: 7 },
      seconds_per_image: 0.5,
      seconds_per_image_from: "median of 3 warm runs",
      tokens_per_s: 12.5,
      // the per-scale table repeats figures of its own (a table), and the same as the cold run below
      per_scale: [
        { scale: 0, patch_num: 1, tokens: 2, ms: 100, first_ms: 100, first_rss_bytes: 2e9 },
        { scale: 1, patch_num: 2, tokens: 8, ms: 200, first_ms: 200, first_rss_bytes: 2e9 },
      ],
      transformer_ms: 300,
      decode_ms: 300, // equal to the transformer
      cpu_utilisation: 1.5,
      first_run: { seconds: 1, seconds_per_image: 0.5, decode_ms: 300 }, // cold run = the warm median; decode = warm decode
      warm_runs_seconds: [1, 1, 1.2], // fastest = median
      setup_s: 0.5,
      memory: {
        tf_peak_bytes: 500_000_100, // = the weights, printed as their excess
        rss_peak_bytes: 2e9, // = RSS after setup
        max_rss_bytes: 2e9, // = peak
        max_rss_after_setup_bytes: 2e9,
        weights_fp32_bytes: 500_000_000,
        rss_peak_over_weights: 4,
        max_rss_over_weights: 4,
        rss_after_setup_bytes: 2e9,
        first_run_rss_after_decode_bytes: 2e9,
      },
      backend: { name: "wasm", device: "wasm SIMD, 2 threads", threads: 2, simd: true, weightPacking: true, fusedKernels: ["KVAttention"] } as BenchResult["backend"],
      machine: { cpu: "CPU", cores: 2, os: "linux", node: "v20", memory_bytes: 8e9, load_average_start: [1, 1, 1], load_average_end: [1, 2, 3] },
      date: "2026-01-01T00:00:00.000Z",
    };
    const out = summaryLines(j, { unpacked: false, scalesInModel: 2 }).join("\n");
    expect(repeatedLines(out)).toEqual([]);
    expect(repeatedFigures(out)).toEqual([]);
    expect(out).toContain("load average 1 at the start and the end");
    expect(out).toContain("seconds_per_image: 0.500 s (median of runs 2…4, warm: slowest 0.600 s); first run, cold: the same as seconds_per_image");
    expect(out).toContain("decode the same as the transformer (first run the same as the transformer)");
    expect(out).toContain("peak tfjs weights + 100 B; peak RSS the same as after setup, 4× the weights (also the process maximum, loading included)");
    // --scales: no seconds per image and no decode.
    const part = summaryLines({ ...j, settings: { ...j.settings, scales: 1 }, per_scale: j.per_scale.slice(0, 1), decode_ms: null }, { unpacked: false, scalesInModel: 2 }).join("\n");
    expect(part).toContain("seconds_per_image: n/a (--scales 1: no decode)");
    expect(part).toContain("the first 1 of 2 scales, no decode");
    expect(part).not.toContain("decode ");
  });

  it("valuesProgress: a bar over the values drawn, in millions, reaching the total only at the last parameter", () => {
    let err = "";
    const bar = valuesProgress({ out: () => {}, err: (s) => (err += s) }, "building d16: VAR");
    const total = 310_283_520;
    for (let i = 1; i < 100; i++) bar({ elements: Math.floor((i / 100) * total), totalElements: total });
    bar({ elements: total - 10, totalElements: total }); // within rounding of the total, but not done
    expect(err).toBe(""); // off a terminal, nothing within the first 2 s but the end
    bar({ elements: total, totalElements: total });
    const lines = err.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^building d16: VAR \[#{24}\] 310\/310 100% [\d.]+ M values\/s ETA 0s$/);
    expect(lines[0]).toMatch(PROGRESS);
  });

  it("randomVqvae: a random VQ-VAE decodes to finite, non-constant images in [-1, 1]", async () => {
    const config = vqvaeConfigFromKwargs(bundle.meta.vqvae, patchNums);
    const events: { loaded: number; total: number; elements: number; totalElements: number }[] = [];
    const vae = randomVqvae(config, new Random(3), { onProgress: (p) => events.push(p) });
    try {
      // onProgress after every parameter, up to the model's values (buffers included)
      expect(events).toHaveLength(vae.namedParameters().length);
      expect(events.at(-1)!.loaded).toBe(events.at(-1)!.total);
      expect(events.at(-1)!.elements).toBe(events.at(-1)!.totalElements);
      expect(events.at(-1)!.totalElements).toBeGreaterThanOrEqual(vae.numParameters());
      const P = patchNums.at(-1)!;
      const fHat = tf.randomNormal([1, P, P, config.zChannels], 0, 1, "float32", 1) as tf.Tensor4D;
      const img = vae.decode(fHat);
      const d = await img.data();
      tf.dispose([fHat, img]);
      expect(d.every((v) => Number.isFinite(v) && v >= -1 && v <= 1)).toBe(true);
      expect(Math.max(...d) - Math.min(...d)).toBeGreaterThan(1e-3);
      // Same seed, same weights.
      const again = randomVqvae(config, new Random(3));
      const a = (await vae.stateDict()).get("decoder.conv_in.weight")!.data;
      const b = (await again.stateDict()).get("decoder.conv_in.weight")!.data;
      again.dispose();
      expect(Array.from(a as Float32Array)).toEqual(Array.from(b as Float32Array));
    } finally {
      vae.dispose();
    }
  });
});
