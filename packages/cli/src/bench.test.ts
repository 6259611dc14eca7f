import { cpus } from "node:os";
import { Random } from "@nextscale/core";
import { vqvaeConfigFromKwargs } from "@nextscale/tokenizer";
import { referenceBundles } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { randomVqvae } from "./commands/bench.js";
import { runCli } from "./run.testutil.js";

const run = runCli;

// The tiny bundle (there is no d16 in the tests: the command is the same, only the sizes differ).
const bundle = referenceBundles().find((b) => b.name === "var-tiny") ?? referenceBundles()[0];
const models = ["--vae", bundle.file("vae.pth"), "--var", bundle.file("var.pth")];
const patchNums: number[] = bundle.meta.var.patch_nums;
const backend = tf.getBackend(); // the one test-setup initialised (NEXTSCALE_BACKEND, else wasm then cpu)

describe("nextscale bench", () => {
  it("--json: one object with seconds per image, per-scale times, memory, machine and backend", async () => {
    const r = await run(["bench", ...models, "--batch", "3", "--repeats", "3", "--backend", backend, "--json"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
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

  it("prints a summary; --repeats 1 reports the first run; --scales K stops early without a decode", async () => {
    const one = await run(["bench", ...models, "--repeats", "1", "--backend", backend]);
    expect(one.code, one.err).toBe(0);
    expect(one.out).toMatch(/seconds_per_image: [\d.]+ \(first run; first run [\d.]+ s\)/);
    expect(one.out).toMatch(/tokens\/s: [\d.]+/);
    expect(one.out).toMatch(/peak memory: tfjs [\d.]+ GB, RSS [\d.]+ GB/);
    expect(one.out).toMatch(new RegExp(`backend: ${backend} `));
    for (const p of patchNums) expect(one.out).toContain(`${p}×${p}`);
    expect(one.err).toMatch(/run 1\/1 \(first, cold\)/);

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

  it("randomVqvae: a random VQ-VAE decodes to finite, non-constant images in [-1, 1]", async () => {
    const config = vqvaeConfigFromKwargs(bundle.meta.vqvae, patchNums);
    const vae = randomVqvae(config, new Random(3));
    try {
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
