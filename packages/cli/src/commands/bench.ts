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
 *
 * Output: stderr carries only progress (building or loading the models, with
 * an ETA, and which run is going on); the results go to stdout once, as the
 * summary or as one JSON object (`--json`), each figure printed once.
 */
import { cpus, loadavg, platform, release, totalmem } from "node:os";
import { backendInfo } from "@nextscale/backends";
import { formatBytes, packedWeightCount, packWhileLoading, Random } from "@nextscale/core";
import { GENERATE_DEFAULTS, GenerationCancelledError, generate, loadModels } from "@nextscale/sampler";
import { VQVAE, type VqvaeConfig, vqvaeConfig } from "@nextscale/tokenizer";
import { initWeights, VAR_PRESETS, type VarConfig, type VarPresetName, VarTransformer } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "../args.js";
import { chooseBackend } from "../backend.js";
import { num } from "../flags.js";
import { loadingBars, progressBar } from "../progress.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
/** +12.3 MB, -4.0 kB. */
const signed = (bytes: number) => (bytes < 0 ? `-${formatBytes(-bytes)}` : `+${formatBytes(bytes)}`);

/**
 * A progress bar (with rate and ETA) over the values drawn while random
 * weights are built: the time is about proportional to them. Counted in
 * millions (thousands below 10M), rounded; the total is reached only by the
 * last parameter. Off a terminal a line at most every 2 s, and the last.
 */
export function valuesProgress(io: CommandIO, label: string) {
  let bar: ReturnType<typeof progressBar> | undefined;
  return (p: { elements: number; totalElements: number }) => {
    const [scale, unit] = p.totalElements >= 1e7 ? [1e6, "M values"] : [1e3, "k values"];
    bar ??= progressBar(io, label, unit, { minInterval: 2 });
    const total = Math.max(1, Math.round(p.totalElements / scale));
    const done = p.elements >= p.totalElements ? total : Math.min(Math.round(p.elements / scale), total - 1);
    bar({ done, total });
  };
}

export interface RandomVqvaeOptions {
  /** Pack each weight for inference as it is set, as `loadModels` does (default false). */
  pack?: boolean;
  /** After each parameter: `loaded` of `total` parameters, `elements` of `totalElements` values drawn. */
  onProgress?: (p: { loaded: number; total: number; key: string; elements: number; totalElements: number }) => void;
}

/**
 * A VQ-VAE with random weights, for timing only (the cost does not depend on
 * the values): convolution and linear weights normal(0, 1/√fan_in), the
 * codebook normal(0, 1), GroupNorm weights 1, biases and buffers 0, so
 * activations stay in a normal range (no NaN or subnormal slow paths).
 */
export function randomVqvae(config: VqvaeConfig, rng: Random, opts: RandomVqvaeOptions = {}): VQVAE {
  const vae = new VQVAE(config);
  const transform = opts.pack ? packWhileLoading(vae) : undefined; // each weight packed as it is set, as loadModels does
  const params = vae.namedParameters();
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const totalElements = params.reduce((s, [, p]) => s + size(p.shape), 0);
  let elements = 0;
  for (const [i, [name, p]] of params.entries()) {
    const n = size(p.shape);
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
    elements += n;
    opts.onProgress?.({ loaded: i + 1, total: params.length, key: name, elements, totalElements });
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

/** What `nextscale bench --json` prints (the summary shows the same, each figure once). */
export interface BenchResult {
  /** The preset timed (random weights) or checked against the checkpoints; null for unchecked checkpoints. */
  preset: string | null;
  weights: "random" | { vae: string | undefined; var: string | undefined };
  model: {
    depth: number;
    embed_dim: number;
    heads: number;
    patch_nums: number[];
    tokens_per_image: number;
    image_size: number;
    var_params: number;
    vae_params: number;
  };
  settings: { batch: number; cfg: number; top_k: number; top_p: number; seed: number; repeats: number; scales: number; packed_weights: number };
  seconds_per_image: number | null;
  seconds_per_image_from: string | null;
  tokens_per_s: number;
  per_scale: { scale: number; patch_num: number; tokens: number; ms: number; first_ms: number; first_rss_bytes: number }[];
  transformer_ms: number;
  decode_ms: number | null;
  cpu_utilisation: number;
  first_run: { seconds: number; seconds_per_image: number | null; decode_ms: number | null };
  warm_runs_seconds: number[];
  setup_s: number;
  memory: {
    tf_peak_bytes: number;
    rss_peak_bytes: number;
    max_rss_bytes: number;
    max_rss_after_setup_bytes: number;
    weights_fp32_bytes: number;
    rss_peak_over_weights: number;
    max_rss_over_weights: number;
    rss_after_setup_bytes: number;
    first_run_rss_after_decode_bytes: number | null;
  };
  backend: ReturnType<typeof backendInfo>;
  machine: {
    cpu: string;
    cores: number;
    os: string;
    node: string;
    memory_bytes: number;
    load_average_start: number[];
    load_average_end: number[];
  };
  date: string;
}

/**
 * The summary: what was measured (model, settings), where (machine,
 * backend), then the results. Every figure appears once: a column or a
 * clause that would repeat another (the first run's column when it is the
 * only run, a process maximum equal to the sampled peak) is left out, and a
 * figure that happens to equal one already printed names it instead (the
 * per-scale rows are a table and are not checked).
 */
export function summaryLines(j: BenchResult, opts: { unpacked: boolean; scalesInModel: number }): string[] {
  const { batch } = j.settings;
  const K = opts.scalesInModel;
  const partial = j.settings.scales < K;
  const warmRuns = j.warm_runs_seconds.length;
  const m = j.machine;
  const b = j.backend;
  const mem = j.memory;
  const seen = new Map<string, string>();
  /** `text`, or "the same as <what printed it first>". */
  const once = (text: string, what: string) => {
    const first = seen.get(text);
    if (first !== undefined) return `the same as ${first}`;
    seen.set(text, what);
    return text;
  };
  const secs = (x: number, what: string) => once(`${x.toFixed(3)} s`, what);
  const ms = (x: number, what: string) => once(`${x.toFixed(1)} ms`, what);
  const size = (x: number, what: string) => once(formatBytes(x), what);

  const what = j.weights === "random" ? `${j.preset} with random weights` : `--vae ${j.weights.vae} --var ${j.weights.var}${j.preset ? ` (preset ${j.preset})` : ""}`;
  const packed = j.settings.packed_weights
    ? `${j.settings.packed_weights} weights packed for inference (one copy each)`
    : opts.unpacked
      ? "weights unpacked (--unpacked)"
      : `weights unpacked (no weight packing on ${b.name})`;
  const [load0, load1] = [m.load_average_start[0], m.load_average_end[0]];
  const lines = [
    `nextscale bench: ${what}; batch ${batch}, cfg ${j.settings.cfg}, top-k ${j.settings.top_k}, top-p ${j.settings.top_p}, seed ${j.settings.seed}${partial ? `; the first ${j.settings.scales} of ${K} scales, no decode` : ""}`,
    `model: depth ${j.model.depth}, width ${j.model.embed_dim}, ${j.model.heads} heads, ${j.model.tokens_per_image} tokens per image, ${j.model.image_size}×${j.model.image_size} images; ${packed}`,
    `machine: ${m.cpu}, ${m.cores} cores, ${formatBytes(m.memory_bytes)}, ${m.os}, Node ${m.node}; load average ${load0 === load1 ? `${load0} at the start and the end` : `${load0} at the start, ${load1} at the end`}`,
    `backend: ${b.name} (${b.device})${b.fusedKernels.length ? `; fused kernels: ${b.fusedKernels.join(", ")}` : ""}`,
    `setup: ${once(`${j.setup_s.toFixed(2)} s`, "the setup")} (${j.weights === "random" ? "building the random weights" : "loading the checkpoints"}; not timed below)`,
  ];

  // Seconds per image and where it comes from: the warm runs' spread, then the cold first run.
  if (partial) lines.push(`seconds_per_image: n/a (--scales ${j.settings.scales}: no decode)`);
  else if (!warmRuns) lines.push(`seconds_per_image: ${secs(j.seconds_per_image!, "seconds_per_image")} (the only run, cold: --repeats 1)`);
  else {
    const med = secs(j.seconds_per_image!, "seconds_per_image");
    let from = "run 2, warm";
    if (warmRuns > 1) {
      const fastest = Math.min(...j.warm_runs_seconds) / batch;
      const slowest = Math.max(...j.warm_runs_seconds) / batch;
      const spread = [`fastest ${secs(fastest, "the fastest warm run")}`, `slowest ${secs(slowest, "the slowest warm run")}`].filter((x) => !x.includes("the same as"));
      from = `median of runs 2…${warmRuns + 1}, warm${spread.length ? `: ${spread.join(", ")}` : ""}`;
    }
    lines.push(`seconds_per_image: ${med} (${from}); first run, cold: ${secs(j.first_run.seconds_per_image!, "the first run")}`);
  }
  lines.push(`tokens/s: ${j.tokens_per_s}${partial ? "" : " (decode included)"}; CPU time / wall time ${j.cpu_utilisation}`);

  // Per scale: the warm median and the first run (one column when the first run is the only one), the RSS change in the first run.
  const twoColumns = warmRuns > 0;
  const after = mem.rss_after_setup_bytes;
  lines.push(`per scale (${twoColumns ? "ms: warm median, first run; RSS change in the first run" : "ms; RSS change"} from the ${size(after, "after setup")} after setup):`);
  for (const s of j.per_scale) {
    const cols = `${s.ms.toFixed(1).padStart(10)} ms${twoColumns ? ` ${s.first_ms.toFixed(1).padStart(10)} ms` : ""}`;
    lines.push(`  ${`${s.patch_num}×${s.patch_num}`.padStart(7)} ${String(s.tokens).padStart(6)} tok ${cols}   RSS ${signed(s.first_rss_bytes - after)}`);
  }
  const transformer = ms(j.transformer_ms, "the transformer");
  let decode = "";
  if (j.decode_ms !== null) {
    decode = `, decode ${ms(j.decode_ms, "the warm decode")}`;
    if (twoColumns) decode += ` (first run ${ms(j.first_run.decode_ms!, "the first run's decode")})`;
  }
  lines.push(`  transformer ${transformer}${decode}`);

  // Memory: the weights, then each peak and its ratio to them.
  const w = size(mem.weights_fp32_bytes, "the weights");
  const tfjs = formatBytes(mem.tf_peak_bytes) === formatBytes(mem.weights_fp32_bytes) ? `weights ${signed(mem.tf_peak_bytes - mem.weights_fp32_bytes).replace(/^([+-])/, "$1 ")}` : size(mem.tf_peak_bytes, "the tfjs peak");
  const peak = size(mem.rss_peak_bytes, "the peak RSS");
  const ratio = `${mem.rss_peak_over_weights}×`;
  const maxRss =
    formatBytes(mem.max_rss_bytes) === formatBytes(mem.rss_peak_bytes)
      ? "also the process maximum, loading included"
      : `process maximum ${size(mem.max_rss_bytes, "the process maximum")}${ratio === `${mem.max_rss_over_weights}×` ? "" : `, ${mem.max_rss_over_weights}×`}, loading included`;
  lines.push(`memory: fp32 weights ${w}; peak tfjs ${tfjs}; peak RSS ${peak}, ${ratio} the weights (${maxRss})`);
  return lines;
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
  --backend B        webgpu, native, wasm or cpu (default: NEXTSCALE_BACKEND, else native, then wasm)
  --repeats N        generations in all (default 2): the first (cold) is
                     reported apart as first_run; seconds_per_image is the
                     median of the warm runs 2…N (of the first run if N = 1)
  --scales K         stop after the first K scales (slow backends): per-scale
                     times only, no decode and no seconds_per_image
  --seed S           seed of the labels and draws (default ${GENERATE_DEFAULTS.seed})
  --unpacked         keep the unpacked weights (as for training): by default
                     the models are packed for inference as \`generate\` loads
                     them (on wasm: one copy of each weight instead of two)
  --json             print one JSON object instead of the summary

Training steps (forward, backward, AdamW) instead of generation:
  nextscale bench --train var [--depth 4] [--width 256] [--vocab 512] [--cvae 16]
                  [--patch-nums 1,2,3,4] [--batch 32] [--recompute] [--steps 5] [--warmup 2] [--backend B] [--json]
  nextscale bench --train vqvae [--ch 32] [--ch-mult 1,2,2] [--image 32] [--vocab 512] [--z 16]
                  [--patch-nums 1,2,3,4,5,6,8] [--batch 32] [--steps 5] [--warmup 2] [--backend B] [--json]`,
  async run(args, io) {
    // training steps: bench-train.ts
    if (args.some((a) => a === "--train" || a.startsWith("--train="))) return (await import("./bench-train.js")).runTrainBench(args, io);
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
    await chooseBackend(values.backend);
    const info = backendInfo();

    // The models: a preset with random weights, or checkpoints. Progress (with an ETA) on stderr; the summary names the backend.
    const t0 = performance.now();
    let vae: VQVAE;
    let model: VarTransformer;
    if (random) {
      const name = presetName ?? "d16";
      const rng = new Random(seed);
      model = new VarTransformer(VAR_PRESETS[name]);
      initWeights(model, rng, { transform: values.unpacked ? undefined : packWhileLoading(model), onProgress: valuesProgress(io, `building ${name}: VAR`) });
      // the official VQ-VAE at this resolution
      vae = randomVqvae(vqvaeConfig({ patchNums: model.config.patchNums }), rng, { pack: !values.unpacked, onProgress: valuesProgress(io, `building ${name}: VQ-VAE`) });
    } else {
      const m = await loadModels({ vae: values.vae!, var: values.var! }, { pack: !values.unpacked, onProgress: loadingBars(io) });
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
      const tty = !!process.stderr.isTTY;
      for (let r = 0; r < repeats; r++) {
        // Progress only (the times are in the summary): which run, and on a terminal which scale.
        const runLabel = `run ${r + 1}/${repeats}${r === 0 ? " (first, cold)" : ""}`;
        io.err(tty ? `${runLabel} …` : `${runLabel} …\n`);
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
              if (tty) io.err(`\r${runLabel}: scale ${p.scale + 1}/${stopAfter}${p.scale + 1 === K ? ", decoding …" : ""}`);
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
        if (tty) io.err(`\r${runLabel}: ${partial ? `${stopAfter} of ${K} scales` : `${K} scales and the decode`} done\n`);
      }

      const first = runs[0];
      const warm = runs.slice(1);
      const ref = warm.length ? warm : [first];
      const totalMs = median(ref.map((x) => x.totalMs));
      const scaleMs = patchNums.slice(0, stopAfter).map((_, k) => median(ref.map((x) => x.scaleMs[k])));
      const decodeMs = partial ? null : median(ref.map((x) => x.decodeMs!));
      const tokensTimed = patchNums.slice(0, stopAfter).reduce((s, p) => s + p * p, 0);
      const cpu = cpus();
      const maxRss = process.resourceUsage().maxRSS * 1024;
      const result: BenchResult = {
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
          max_rss_bytes: maxRss,
          max_rss_after_setup_bytes: maxRssAfterSetup,
          weights_fp32_bytes: weightsBytes,
          rss_peak_over_weights: round(rssPeak / weightsBytes, 2),
          max_rss_over_weights: round(maxRss / weightsBytes, 2),
          rss_after_setup_bytes: rssAfterSetup,
          first_run_rss_after_decode_bytes: partial ? null : (first.rss.at(-1) ?? null),
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
      io.out(`${summaryLines(result, { unpacked: values.unpacked, scalesInModel: K }).join("\n")}\n`);
      return 0;
    } finally {
      vae.dispose();
      model.dispose();
    }
  },
};
