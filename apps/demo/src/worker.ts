/**
 * The model worker: initialises one backend, loads a VQ-VAE + VAR pair,
 * generates and edits, and reports each scale's preview as pixels. Every
 * tfjs call of the demo happens here (src/protocol.ts lists the messages).
 */
import { type BackendName, backendInfo, initBackend, listBackends } from "@nextscale/backends";
import { CLASS_NAMES, SAMPLING_DEFAULTS, VAE_WEIGHTS, VAR_WEIGHTS } from "@nextscale/model-fashion-mnist";
import { EditMaskError, GenerationCancelledError, generate, IMAGENET_CLASS_NAMES, imageKeepMask, type LoadedModels, loadModels } from "@nextscale/sampler";
import * as tf from "@tensorflow/tfjs-core";
import { clearModelCache, DownloadError, fetchCached } from "./model-cache.js";
import type { BackendAvailability, BackendChoice, EditMode, EditSource, ErrorKind, ModelInfo, ModelSource, Pixels, Request, SamplingSettings, WorkerEvent } from "./protocol.js";
import { BACKEND_CHOICES } from "./protocol.js";

const scope = self as unknown as {
  postMessage(msg: WorkerEvent, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
};

function post(msg: WorkerEvent, transfer: Transferable[] = []) {
  scope.postMessage(msg, transfer);
}

let models: LoadedModels | null = null;
let info: ModelInfo | null = null;
/** The tokens of the last result (one (B·pn²) map per scale), so that an edit of a generated image keeps its exact tokens. */
let lastTokens: { B: number; perScale: Int32Array[] } | null = null;
const running = new Map<number, AbortController>();
/** Cancels that arrived while their request was still queued. */
const cancelledEarly = new Set<number>();
/** Requests run one at a time, in order (a cancel is handled at once). */
let queue: Promise<void> = Promise.resolve();

/** An error's kind, from its class and message, so the page can say what to do. */
function classify(e: unknown): { kind: ErrorKind; message: string } {
  const err = e as Error;
  const message = err?.message ?? String(e);
  if (err instanceof EditMaskError) return { kind: "mask", message };
  if (err instanceof DownloadError) return { kind: "download", message };
  if (err?.name === "BackendUnavailableError") return { kind: "backend", message };
  if (/out of memory|Failed to allocate|allocation failed|Array buffer allocation|Cannot enlarge memory|Aborted\(OOM\)|memory access out of bounds|GPUOutOfMemory/i.test(message)) {
    return { kind: "out-of-memory", message: `out of memory: ${message} (try fewer images, or the other backend)` };
  }
  if (/CheckpointFormatError|StateDictError/.test(err?.name ?? "") || /not a (checkpoint|PyTorch|safetensors)|unknown format|cannot load checkpoint|zip archive|safetensors|pickle|checkpoint/i.test(message)) {
    return { kind: "unsupported-file", message };
  }
  return { kind: "other", message };
}

async function shaderF16(): Promise<boolean | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? adapter.features.has("shader-f16") : null;
  } catch {
    return null;
  }
}

async function init(backend: BackendChoice | "auto", wasmPaths: string) {
  const all = await listBackends();
  const list: BackendAvailability[] = BACKEND_CHOICES.map((name) => {
    const s = all.find((b) => b.name === name)!;
    return { name, available: s.available, reason: s.reason };
  });
  post({ type: "backends", list, shaderF16: await shaderF16(), crossOriginIsolated: globalThis.crossOriginIsolated === true });
  const pref: BackendName[] = backend === "auto" ? ["webgpu", "wasm", "cpu"] : [backend];
  // wasm threads: one per logical CPU (at most 8) on a cross-origin isolated page, else 1 (the backends' default)
  const name = (await initBackend(pref, { wasmPaths })) as BackendChoice;
  const bi = backendInfo();
  post({ type: "ready", backend: name, device: bi.device, threads: bi.threads ?? null });
}

async function load(source: ModelSource) {
  const t0 = performance.now();
  models?.dispose();
  models = null;
  info = null;
  lastTokens = null;
  const download = (url: string) =>
    fetchCached(url, (p) => post({ type: "load-progress", phase: "download", file: p.file, loaded: p.loaded, total: p.total, cached: p.cached }));
  let files: { vae: Blob; var: Blob };
  if (source.kind === "files") files = { vae: source.vae, var: source.var };
  else {
    const urls = source.kind === "bundled" ? { vae: VAE_WEIGHTS, var: VAR_WEIGHTS } : source; // the bundle's asset URLs
    files = { var: await download(urls.var), vae: await download(urls.vae) };
  }
  const names = source.kind === "files" ? { vae: source.vae.name, var: source.var.name } : null;
  models = await loadModels(
    { vae: names ? new File([files.vae], names.vae) : files.vae, var: names ? new File([files.var], names.var) : files.var },
    { onProgress: (p) => post({ type: "load-progress", phase: "parse", file: p.model === "vae" ? "VQ-VAE" : "VAR", loaded: p.bytes, total: p.totalBytes, cached: false }) },
  );
  const { numClasses, patchNums } = models.var.config;
  const isBundled = source.kind === "bundled";
  info = {
    name: isBundled ? "fashion-mnist (bundled)" : (names?.var ?? (source as { var: string }).var.split("/").pop() ?? "model"),
    imageSize: models.vae.imageSize(),
    numClasses,
    patchNums: [...patchNums],
    classNames: isBundled && numClasses === CLASS_NAMES.length ? [...CLASS_NAMES] : numClasses === 1000 ? [...IMAGENET_CLASS_NAMES] : null,
    defaults: isBundled ? { ...SAMPLING_DEFAULTS } : null,
  };
  post({ type: "loaded", info, ms: performance.now() - t0 });
}

/** (B, H, W, 3) in [0, 1] -> one RGBA image per row (the tensor is disposed). */
async function toPixels(images: tf.Tensor4D): Promise<Pixels[]> {
  const [B, H, W] = images.shape;
  const rgb = (await images.data()) as Float32Array;
  images.dispose();
  return Array.from({ length: B }, (_, b) => {
    const data = new Uint8ClampedArray(H * W * 4);
    for (let i = 0; i < H * W; i++) {
      const o = (b * H * W + i) * 3;
      data[4 * i] = Math.round(rgb[o] * 255);
      data[4 * i + 1] = Math.round(rgb[o + 1] * 255);
      data[4 * i + 2] = Math.round(rgb[o + 2] * 255);
      data[4 * i + 3] = 255;
    }
    return { width: W, height: H, data };
  });
}

const buffers = (px: Pixels[]) => px.map((p) => p.data.buffer as ArrayBuffer);
/** Let queued messages (a cancel) run: the sampler's awaits alone are microtasks on wasm and cpu. */
const yieldToEvents = () => new Promise<void>((ok) => setTimeout(ok, 0));

function requireModels(): LoadedModels {
  if (!models || !info) throw new Error("no model is loaded yet");
  return models;
}

/** The keep-mask source tokens of an edit: the generated image's own, or the VQ-VAE's encoding of the given image. */
function sourceTokens(m: LoadedModels, source: EditSource): tf.Tensor2D[] {
  const { patchNums } = m.var.config;
  if (source.kind === "generated") {
    if (!lastTokens || source.index < 0 || source.index >= lastTokens.B) throw new Error(`there is no generated image ${source.index + 1} to edit`);
    return lastTokens.perScale.map((t, k) => {
      const l = patchNums[k] ** 2;
      return tf.tensor2d(t.subarray(source.index * l, (source.index + 1) * l), [1, l], "int32");
    });
  }
  const S = m.vae.imageSize();
  const { width, height, data } = source.pixels;
  if (width !== S || height !== S) throw Object.assign(new Error(`the image is ${width}×${height}; this model needs ${S}×${S}`), { kind: "image-size" });
  const rgb = new Float32Array(S * S * 3);
  for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = (data[4 * i + c] / 255) * 2 - 1;
  return tf.tidy(() => m.vae.imageToIndices(tf.tensor4d(rgb, [1, S, S, 3])));
}

async function run(id: number, settings: SamplingSettings, edit?: { source: EditSource; mask: { width: number; height: number; data: Float32Array }; mode: EditMode }) {
  const m = requireModels();
  const { patchNums } = m.var.config;
  const P = patchNums[patchNums.length - 1];
  let keep: { indices: tf.Tensor[]; mask: ReturnType<typeof imageKeepMask> } | undefined;
  if (edit) {
    const mask = imageKeepMask(edit.mask, m.vae.imageSize(), P, edit.mode);
    keep = { indices: sourceTokens(m, edit.source), mask };
  }
  const ctrl = new AbortController();
  running.set(id, ctrl);
  if (cancelledEarly.delete(id)) ctrl.abort();
  const t0 = performance.now();
  let last = t0;
  let scalesDone = 0;
  try {
    const labels = settings.labels.length ? settings.labels : undefined;
    const res = await generate(m.vae, m.var, {
      labels,
      batchSize: labels ? undefined : settings.count,
      cfg: settings.cfg,
      topK: settings.topK,
      topP: settings.topP,
      seed: settings.seed,
      moreSmooth: settings.moreSmooth,
      keep,
      signal: ctrl.signal,
      onProgress: async (p) => {
        const ms = performance.now() - last;
        scalesDone = p.scale + 1;
        // a cancel that came in while this scale ran: no preview (the decode can cost more than the scale)
        await yieldToEvents();
        if (ctrl.signal.aborted) return;
        const tp = performance.now();
        const previews = await toPixels(p.decodePreview());
        post({ type: "scale", id, scale: p.scale, scales: p.scales, patchNum: p.patchNum, ms, previewMs: performance.now() - tp, previews }, buffers(previews));
        await yieldToEvents();
        last = performance.now();
      },
    });
    const B = res.labels.length;
    const perScale = await Promise.all(res.indices.map(async (t) => Int32Array.from(await t.data())));
    tf.dispose([res.fHat, ...res.indices]);
    lastTokens = { B, perScale };
    const images = await toPixels(res.images);
    post({ type: "done", id, images, labels: [...res.labels], ms: performance.now() - t0 }, buffers(images));
  } catch (e) {
    if (e instanceof GenerationCancelledError) post({ type: "cancelled", id, afterScales: scalesDone });
    else throw e;
  } finally {
    running.delete(id);
    if (keep) tf.dispose(keep.indices);
  }
}

function handle(req: Request): Promise<void> {
  switch (req.type) {
    case "init":
      return init(req.backend, req.wasmPaths);
    case "load":
      return load(req.source);
    case "generate":
      return run(req.id, req.settings);
    case "edit":
      return run(req.id, req.settings, { source: req.source, mask: req.mask, mode: req.mode });
    case "clear-cache":
      return clearModelCache().then((entries) => post({ type: "cache-cleared", entries }));
    case "cancel":
      return Promise.resolve();
  }
}

scope.onmessage = (e) => {
  const req = e.data;
  if (req.type === "cancel") {
    const ctrl = running.get(req.id);
    if (ctrl) ctrl.abort();
    else cancelledEarly.add(req.id);
    return;
  }
  const id = "id" in req ? req.id : null;
  queue = queue
    .then(() => handle(req))
    .catch((err) => {
      const { kind, message } = (err as { kind?: ErrorKind }).kind ? { kind: (err as { kind: ErrorKind }).kind, message: (err as Error).message } : classify(err);
      console.error(err);
      post({ type: "error", id, kind, message });
    });
};
