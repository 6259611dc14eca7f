/**
 * `nextscale bench`: time full generation (transformer scale by scale, then
 * the VQ-VAE decode) exactly as `generate` runs it for users, and report
 * seconds per image, per-scale times, tokens/s, peak memory, the machine and
 * the backend.
 *
 * Timing protocol: `--repeats N` generations in all (default 2). The first is
 * the cold run (kernel set-up, XNNPACK operator caches, WebAssembly memory
 * growth, …) and is reported on its own as `first_run`; the warm runs 2…N
 * give `seconds_per_image` (their median). With `--repeats 1` only the cold
 * run exists and `seconds_per_image` is that run's, flagged
 * `"seconds_per_image_from": "first run"`.
 *
 * Per-scale times come from `generate`'s `onProgress` events (elapsed time
 * after each scale, whose logits have been read back to the host, so the
 * work is done); the decode is the rest. Memory: tfjs' `tf.memory().numBytes`
 * and the process RSS are sampled after every scale and after the decode
 * (their high-water marks: peaks inside one scale are not seen), and the
 * operating system's maximum RSS of the whole process (loading included) is
 * reported as well.
 */
import { cpus, loadavg, platform, release, totalmem } from "node:os";
import { backendInfo } from "@nextscale/backends";
import { packedWeightCount, packWhileLoading, Random } from "@nextscale/core";
import { GENERATE_DEFAULTS, GenerationCancelledError, generate, loadModels } from "@nextscale/sampler";
import { VQVAE, type VqvaeConfig, vqvaeConfig } from "@nextscale/tokenizer";
import { initWeights, VAR_PRESETS, type VarConfig, type VarPresetName, VarTransformer } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { type Command, UsageError } from "./types.js";

const PRESETS = Object.keys(VAR_PRESETS) as VarPresetName[];

/** One generation's measurements. */
interface RunTiming {
  /** Wall time of the whole `generate` call, ms. */
  totalMs: number;
  /** Time of each scale (transformer step, sampling, f̂ update), ms. */
  scaleMs: number[];
  /** The VQ-VAE decode after the last scale, ms (null when stopped early by --scales). */
  decodeMs: number | null;
  /** CPU time of the process (every thread: wasm's workers too) over the run, ms. */
  cpuMs: number;
  /** Process RSS after each scale, and after the decode (bytes). */
  rss: number[];
}

function num(v: string | undefined, flag: string, fallback: number, check: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UsageError(`${flag} must be ${what} (got "${v}")`);
  return x;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/**
 * A VQ-VAE with random weights, for timing only (the cost does not depend on
 * the values): convolution and linear weights normal(0, 1/√fan_in), the
 * codebook normal(0, 1), GroupNorm weights 1, biases and buffers 0, so
 * activations stay in a normal range (no NaN or subnormal slow paths).
 */
export function randomVqvae(config: VqvaeConfig, rng: Random, pack = false): VQVAE {
  const vae = new VQVAE(config);
  const transform = pack ? packWhileLoading(vae) : undefined; // each weight packed as it is set, as loadModels does
  for (const [name, p] of vae.namedParameters()) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (p.opts.trainable && !name.endsWith(".bias")) {
      if (p.shape.length === 1) data.fill(1); // norm weights
      else {
        const fanIn = name.startsWith("quantize.embedding") ? 1 : n / p.shape[0];
        const std = 1 / Math.sqrt(fanIn);
        rng.fill(data, (r) => r.normal(0, std));
      }
    }
    if (transform) transform.set(p, data);
    else p.setTorchHost(data);
  }
  transform?.done?.();
  return vae;
}

function presetMismatch(c: VarConfig, p: VarConfig): string | null {
  const diff: string[] = [];
  if (c.depth !== p.depth) diff.push(`depth ${c.depth}`);
  if (c.embedDim !== p.embedDim) diff.push(`width ${c.embedDim}`);
  if (c.patchNums.join() !== p.patchNums.join()) diff.push(`patch_nums [${c.patchNums}]`);
  if (c.sharedAln !== p.sharedAln) diff.push(`shared_aln ${c.sharedAln}`);
  return diff.length ? diff.join(", ") : null;
}

export const bench: Command = {
  name: "bench",
  summary: "time full generation (transformer + decode): seconds per image, per-scale times, tokens/s, peak memory",
  usage: `usage: nextscale bench [--preset d16] (--random-weights | --vae F --var F) [--batch 1] [--backend B]
                       [--repeats 2] [--scales K] [--seed S] [--unpacked] [--json]

Times generate() as users run it (cfg ${GENERATE_DEFAULTS.cfg}, top-k ${GENERATE_DEFAULTS.topK}, top-p ${GENERATE_DEFAULTS.topP}, no smoothing):
every scale of the transformer with its KV cache, the sampling on the host and
the VQ-VAE decode. Prints seconds_per_image, per-scale times, tokens/s, peak
memory, the machine and the backend.

  --preset NAME      ${PRESETS.join(", ")} (default d16); with --vae/--var it is
                     optional and checked against the checkpoint
  --random-weights   build the preset with random weights (no download: the
                     cost does not depend on the values)
  --vae F, --var F   or time real checkpoints (paths, URLs, or cached names:
                     --vae vae --var var-d16, see nextscale download)
  --batch B          images per generation (default 1)
  --backend B        webgpu, wasm or cpu (default: NEXTSCALE_BACKEND, else wasm)
  --repeats N        generations in all (default 2): the first (cold) is
                     reported apart as first_run; seconds_per_image is the
                     median of the warm runs 2…N (of the first run if N = 1)
  --scales K         stop after the first K scales (slow backends): per-scale
                     times only, no decode and no seconds_per_image
  --seed S           seed of the labels and draws (default ${GENERATE_DEFAULTS.seed})
  --unpacked         keep the unpacked weights (as for training): by default
                     the models are packed for inference as \`generate\` loads
                     them (on wasm: one copy of each weight instead of two)
  --json             print one JSON object instead of the summary`,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        preset: { type: "string" },
        "random-weights": { type: "boolean", default: false },
        vae: { type: "string" },
        var: { type: "string" },
        batch: { type: "string" },
        backend: { type: "string" },
        repeats: { type: "string" },
        scales: { type: "string" },
        seed: { type: "string" },
        unpacked: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
      },
    });
    const presetName = values.preset as VarPresetName | undefined;
    if (presetName !== undefined && !PRESETS.includes(presetName)) {
      throw new UsageError(`unknown preset "${presetName}" (known: ${PRESETS.join(", ")})`);
    }
    const random = values["random-weights"];
    if (random && (values.vae || values.var)) throw new UsageError("pass either --random-weights or --vae and --var, not both");
    if (!random && (!values.vae || !values.var)) {
      throw new UsageError("pass --random-weights (time a preset with random weights) or both --vae F and --var F (time real checkpoints)", 1);
    }
    const batch = num(values.batch, "--batch", 1, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
    const repeats = num(values.repeats, "--repeats", 2, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
    const seed = num(values.seed, "--seed", GENERATE_DEFAULTS.seed, Number.isSafeInteger, "an integer");
    const scalesLimit = values.scales === undefined ? null : num(values.scales, "--scales", 0, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
    if (random && scalesLimit !== null && scalesLimit > VAR_PRESETS[presetName ?? "d16"].patchNums.length) {
      throw new UsageError(`--scales must be at most ${VAR_PRESETS[presetName ?? "d16"].patchNums.length} (the preset's scales), got ${scalesLimit}`);
    }

    const loadStart = [...loadavg()];
    const backend = await chooseBackend(values.backend);
    const info = backendInfo();
    io.err(`backend: ${backend} (${info.device})\n`);

    // The models: a preset with random weights, or checkpoints.
    const t0 = performance.now();
    let vae: VQVAE;
    let model: VarTransformer;
    if (random) {
      const name = presetName ?? "d16";
      io.err(`building ${name} with random weights …\n`);
      const rng = new Random(seed);
      model = new VarTransformer(VAR_PRESETS[name]);
      initWeights(model, rng, { transform: values.unpacked ? undefined : packWhileLoading(model) });
      vae = randomVqvae(vqvaeConfig({ patchNums: model.config.patchNums }), rng, !values.unpacked); // the official VQ-VAE at this resolution
    } else {
      const m = await loadModels({ vae: values.vae!, var: values.var! }, { pack: !values.unpacked });
      ({ vae, var: model } = m);
      const mismatch = presetName ? presetMismatch(model.config, VAR_PRESETS[presetName]) : null;
      if (mismatch) {
        m.dispose();
        throw new UsageError(`--preset ${presetName} does not match the checkpoint (${mismatch})`);
      }
    }
    const setupS = (performance.now() - t0) / 1000;

    try {
      const { patchNums } = model.config;
      const K = patchNums.length;
      if (scalesLimit !== null && scalesLimit > K) throw new UsageError(`--scales must be at most ${K} (the model's scales), got ${scalesLimit}`);
      const stopAfter = scalesLimit ?? K;
      const partial = stopAfter < K;
      const L = patchNums.reduce((s, p) => s + p * p, 0);
      const varParams = model.numParameters();
      const vaeParams = vae.numParameters();
      const weightsBytes = 4 * (varParams + vaeParams);
      const maxRssAfterSetup = process.resourceUsage().maxRSS * 1024;
      let tfPeak = tf.memory().numBytes;
      const rssAfterSetup = process.memoryUsage().rss;
      let rssPeak = rssAfterSetup;
      const sample = () => {
        const rss = process.memoryUsage().rss;
        tfPeak = Math.max(tfPeak, tf.memory().numBytes);
        rssPeak = Math.max(rssPeak, rss);
        return rss;
      };

      const runs: RunTiming[] = [];
      for (let r = 0; r < repeats; r++) {
        const stop = new AbortController();
        const ends: number[] = [];
        const rss: number[] = [];
        const cpu0 = process.cpuUsage();
        const start = performance.now();
        let res: Awaited<ReturnType<typeof generate>> | null = null;
        try {
          res = await generate(vae, model, {
            batchSize: batch,
            seed,
            signal: stop.signal,
            onProgress: (p) => {
              ends.push(p.elapsedMs);
              rss.push(sample());
              if (p.scale + 1 === stopAfter && partial) stop.abort();
            },
          });
        } catch (e) {
          if (!(partial && e instanceof GenerationCancelledError)) throw e;
        }
        const totalMs = performance.now() - start;
        if (res) {
          await res.images.data(); // the decode is finished once its pixels are readable
          rss.push(sample());
          tf.dispose([res.images, res.fHat, ...res.indices]);
        }
        const scaleMs = ends.map((e, k) => e - (k ? ends[k - 1] : 0));
        const endMs = res ? performance.now() - start : totalMs;
        const c = process.cpuUsage(cpu0);
        runs.push({
          totalMs: res ? endMs : ends[ends.length - 1],
          scaleMs,
          decodeMs: res ? endMs - ends[ends.length - 1] : null,
          cpuMs: (c.user + c.system) / 1000,
          rss,
        });
        io.err(`run ${r + 1}/${repeats}${r === 0 ? " (first, cold)" : ""}: ${(runs[r].totalMs / 1000).toFixed(2)} s\n`);
      }

      const first = runs[0];
      const warm = runs.slice(1);
      const ref = warm.length ? warm : [first];
      const totalMs = median(ref.map((x) => x.totalMs));
      const scaleMs = patchNums.slice(0, stopAfter).map((_, k) => median(ref.map((x) => x.scaleMs[k])));
      const decodeMs = partial ? null : median(ref.map((x) => x.decodeMs!));
      const tokensTimed = patchNums.slice(0, stopAfter).reduce((s, p) => s + p * p, 0);
      const cpu = cpus();
      const result = {
        preset: presetName ?? (random ? "d16" : null),
        weights: random ? "random" : { vae: values.vae, var: values.var },
        model: {
          depth: model.config.depth,
          embed_dim: model.config.embedDim,
          heads: model.config.numHeads,
          patch_nums: [...patchNums],
          tokens_per_image: L,
          image_size: vae.imageSize(),
          var_params: varParams,
          vae_params: vaeParams,
        },
        settings: {
          batch,
          cfg: GENERATE_DEFAULTS.cfg,
          top_k: GENERATE_DEFAULTS.topK,
          top_p: GENERATE_DEFAULTS.topP,
          seed,
          repeats,
          scales: stopAfter,
          packed_weights: packedWeightCount(model) + packedWeightCount(vae),
        },
        seconds_per_image: partial ? null : round(totalMs / 1000 / batch),
        seconds_per_image_from: partial ? null : warm.length ? `median of ${warm.length} warm run${warm.length > 1 ? "s" : ""}` : "first run",
        tokens_per_s: round((batch * tokensTimed) / (scaleMs.reduce((a, b) => a + b, 0) + (decodeMs ?? 0)) * 1000, 2),
        per_scale: patchNums.slice(0, stopAfter).map((pn, k) => ({
          scale: k,
          patch_num: pn,
          tokens: batch * pn * pn,
          ms: round(scaleMs[k], 1),
          first_ms: round(first.scaleMs[k], 1),
          first_rss_bytes: first.rss[k],
        })),
        transformer_ms: round(scaleMs.reduce((a, b) => a + b, 0), 1),
        decode_ms: decodeMs === null ? null : round(decodeMs, 1),
        // CPU time over wall time of the timed runs: about the thread count on an idle machine, less when shared.
        cpu_utilisation: round(median(ref.map((x) => x.cpuMs / x.totalMs)), 2),
        first_run: {
          seconds: round(first.totalMs / 1000),
          seconds_per_image: partial ? null : round(first.totalMs / 1000 / batch),
          decode_ms: first.decodeMs === null ? null : round(first.decodeMs, 1),
        },
        warm_runs_seconds: warm.map((x) => round(x.totalMs / 1000)),
        setup_s: round(setupS, 2),
        memory: {
          tf_peak_bytes: tfPeak,
          rss_peak_bytes: rssPeak,
          max_rss_bytes: process.resourceUsage().maxRSS * 1024,
          max_rss_after_setup_bytes: maxRssAfterSetup,
          weights_fp32_bytes: weightsBytes,
          rss_peak_over_weights: round(rssPeak / weightsBytes, 2),
          max_rss_over_weights: round((process.resourceUsage().maxRSS * 1024) / weightsBytes, 2),
          rss_after_setup_bytes: rssAfterSetup,
          first_run_rss_after_decode_bytes: partial ? null : first.rss.at(-1),
        },
        backend: info,
        machine: {
          cpu: cpu[0]?.model ?? "unknown",
          cores: cpu.length,
          os: `${platform()} ${release()}`,
          node: process.version,
          memory_bytes: totalmem(),
          load_average_start: loadStart.map((x) => round(x, 2)),
          load_average_end: loadavg().map((x) => round(x, 2)),
        },
        date: new Date().toISOString(),
      };

      if (values.json) {
        io.out(`${JSON.stringify(result)}\n`);
        return 0;
      }
      const m = result.machine;
      const lines = [
        `nextscale bench: ${result.preset ?? `depth ${model.config.depth}`} (${random ? "random weights" : "checkpoints"}), batch ${batch}, cfg ${GENERATE_DEFAULTS.cfg}, top-k ${GENERATE_DEFAULTS.topK}, top-p ${GENERATE_DEFAULTS.topP}, ${repeats} run${repeats > 1 ? "s" : ""}`,
        `backend: ${info.name} (${info.device})${info.fusedKernels.length ? `; fused kernels: ${info.fusedKernels.join(", ")}` : ""}`,
        `machine: ${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}, ${gb(m.memory_bytes)}; load average ${m.load_average_start[0]} -> ${m.load_average_end[0]}`,
        partial
          ? `seconds_per_image: n/a (stopped after ${stopAfter} of ${K} scales)`
          : `seconds_per_image: ${result.seconds_per_image} (${result.seconds_per_image_from}; first run ${result.first_run.seconds_per_image} s)`,
        `tokens/s: ${result.tokens_per_s}; CPU time / wall time ${result.cpu_utilisation} (${m.cores} cores)`,
        `per scale (ms: ${warm.length ? "warm median" : "first run"}, first run; RSS after the scale in the first run, from ${gb(rssAfterSetup)} after setup):`,
        ...result.per_scale.map(
          (s) =>
            `  ${`${s.patch_num}×${s.patch_num}`.padStart(7)} ${String(s.tokens).padStart(6)} tok ${s.ms.toFixed(1).padStart(10)} ms ${s.first_ms.toFixed(1).padStart(10)} ms   RSS ${gb(s.first_rss_bytes)}`,
        ),
        `  transformer ${result.transformer_ms.toFixed(1)} ms${decodeMs === null ? "" : `, decode ${result.decode_ms!.toFixed(1)} ms (first run ${result.first_run.decode_ms!.toFixed(1)} ms)`}`,
        `peak memory: tfjs ${gb(tfPeak)}, RSS ${gb(rssPeak)} (${result.memory.rss_peak_over_weights}× the fp32 weights, ${gb(weightsBytes)}); process max RSS ${gb(result.memory.max_rss_bytes)} (${result.memory.max_rss_over_weights}×, loading included)`,
        `weights: ${result.settings.packed_weights ? `${result.settings.packed_weights} packed for inference (one copy each)` : values.unpacked ? "unpacked (--unpacked)" : `unpacked (no weight packing on ${info.name})`}`,
        `setup: ${result.setup_s} s`,
      ];
      io.out(`${lines.join("\n")}\n`);
      return 0;
    } finally {
      vae.dispose();
      model.dispose();
    }
  },
};
