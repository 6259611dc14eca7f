/**
 * The page: collects input, draws what the model worker (src/worker.ts)
 * reports, and never touches a tensor. Test contract (kept stable for
 * outside tests): data-testid `class-select` (a select), `generate` (a
 * button), `status` (contains "done" when a generation has finished) and
 * `output` (the result's canvas).
 */
import { MaskEditor, type Tool } from "./mask-editor.js";
import {
  BACKEND_CHOICES,
  type BackendChoice,
  type EditMode,
  type EditSource,
  type ErrorKind,
  type ModelInfo,
  type ModelSource,
  type Pixels,
  type Request,
  type SamplingSettings,
  type WorkerEvent,
} from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  isolation: $("isolation"),
  error: $("error"),
  errorText: $("error-text"),
  errorActions: $("error-actions"),
  backend: $<HTMLSelectElement>("backend"),
  backends: $("backends"),
  backendInfo: $("backend-info"),
  modelInfo: $("model-info"),
  loadProgress: $<HTMLProgressElement>("load-progress"),
  loadText: $("load-text"),
  cacheText: $("cache-text"),
  cls: $<HTMLSelectElement>("class"),
  count: $<HTMLInputElement>("count"),
  cfg: $<HTMLInputElement>("cfg"),
  topK: $<HTMLInputElement>("top-k"),
  topP: $<HTMLInputElement>("top-p"),
  seed: $<HTMLInputElement>("seed"),
  smooth: $<HTMLInputElement>("smooth"),
  generate: $<HTMLButtonElement>("generate"),
  cancel: $<HTMLButtonElement>("cancel"),
  status: $("status"),
  previews: $("previews"),
  output: $<HTMLCanvasElement>("output"),
  download: $<HTMLButtonElement>("download"),
  editIndex: $<HTMLInputElement>("edit-index"),
  take: $<HTMLButtonElement>("take"),
  imageFile: $<HTMLInputElement>("image-file"),
  source: $<HTMLCanvasElement>("source"),
  brush: $<HTMLInputElement>("brush"),
  mode: $<HTMLSelectElement>("mode"),
  edit: $<HTMLButtonElement>("edit"),
};

const WASM_PATHS = new URL("wasm/", document.baseURI).href;

// ---- errors: every one is shown in the page ----

function showError(kind: ErrorKind, message: string, actions: { label: string; testid: string; run: () => void }[] = []) {
  const what: Record<ErrorKind, string> = {
    "unsupported-file": "Unsupported file",
    "image-size": "Wrong image size",
    "out-of-memory": "Out of memory",
    backend: "Backend unavailable",
    mask: "Mask",
    download: "Download failed",
    other: "Error",
  };
  ui.error.dataset.kind = kind;
  ui.errorText.textContent = `${what[kind]}: ${message}`;
  ui.errorActions.replaceChildren(
    ...actions.map((a) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = a.label;
      b.dataset.testid = a.testid;
      b.onclick = () => {
        hideError();
        a.run();
      };
      return b;
    }),
  );
  ui.error.hidden = false;
}
function hideError() {
  ui.error.hidden = true;
}
$("error-close").onclick = hideError;
window.addEventListener("error", (e) => showError("other", e.message));
window.addEventListener("unhandledrejection", (e) => showError("other", String((e.reason as Error)?.message ?? e.reason)));

// ---- isolation: threaded wasm needs a cross-origin isolated page ----

if (globalThis.crossOriginIsolated) {
  ui.isolation.textContent = `Cross-origin isolated: wasm can use threads (${navigator.hardwareConcurrency} logical CPUs here).`;
} else {
  ui.isolation.classList.add("warn");
  ui.isolation.textContent =
    "Single-threaded: this page is not cross-origin isolated (its server does not send Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so wasm runs on one thread.";
}

// ---- the worker ----

let worker: Worker | null = null;
let backendReady = false;
let model: ModelInfo | null = null;
let modelSource: ModelSource = { kind: "bundled" };
let nextId = 1;
let current: { id: number; kind: "generate" | "edit"; t0: number; count: number } | null = null;
let last: { images: Pixels[]; labels: number[] } | null = null;
let editSource: EditSource | null = null;
let editPixels: Pixels | null = null;
let editLabel: number | null = null;

function send(req: Request, transfer: Transferable[] = []) {
  worker!.postMessage(req, transfer);
}

function startWorker(backend: BackendChoice | "auto") {
  worker?.terminate();
  backendReady = false;
  model = null;
  last = null;
  updateButtons();
  worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = (e: MessageEvent<WorkerEvent>) => onEvent(e.data);
  worker.onerror = (e) => showError("other", `the model worker failed: ${e.message || "it could not start"}`);
  ui.status.textContent = `starting ${backend === "auto" ? "the best available backend" : backend}…`;
  send({ type: "init", backend, wasmPaths: WASM_PATHS });
  loadModel(modelSource);
}

function loadModel(source: ModelSource) {
  hideError();
  modelSource = source;
  model = null;
  updateButtons();
  ui.modelInfo.textContent = source.kind === "bundled" ? "loading the bundled model…" : "loading…";
  send({ type: "load", source });
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function onEvent(ev: WorkerEvent) {
  switch (ev.type) {
    case "backends": {
      ui.backends.replaceChildren(
        ...ev.list.map((b) => {
          const li = document.createElement("li");
          li.className = b.available ? "on" : "off";
          li.dataset.backend = b.name;
          const f16 = b.name === "webgpu" && b.available ? `; shader-f16: ${ev.shaderF16 ? "yes" : "no"}` : "";
          li.textContent = `${b.name}: ${b.available ? "available" : "unavailable"} (${b.reason}${f16})`;
          return li;
        }),
      );
      break;
    }
    case "ready":
      backendReady = true;
      ui.backendInfo.dataset.backend = ev.backend;
      ui.backendInfo.textContent = `running on ${ev.backend}: ${ev.device}`;
      ui.status.textContent = model ? "ready" : "backend ready; loading the model…";
      updateButtons();
      break;
    case "load-progress": {
      ui.loadProgress.hidden = false;
      ui.loadProgress.max = ev.total || 1;
      ui.loadProgress.value = ev.loaded;
      const verb = ev.phase === "parse" ? "reading" : ev.cached ? "from the cache:" : "downloading";
      ui.loadText.textContent = `${verb} ${ev.file} ${mb(ev.loaded)}${ev.total ? ` / ${mb(ev.total)}` : ""}`;
      break;
    }
    case "loaded":
      model = ev.info;
      ui.loadProgress.hidden = true;
      ui.loadText.textContent = `loaded in ${(ev.ms / 1000).toFixed(1)} s`;
      ui.modelInfo.dataset.name = ev.info.name;
      ui.modelInfo.textContent = `${ev.info.name}: ${ev.info.imageSize}×${ev.info.imageSize} px, ${ev.info.numClasses} classes, ${ev.info.patchNums.length} scales (${ev.info.patchNums.join(", ")})`;
      onModel(ev.info);
      if (backendReady) ui.status.textContent = "ready";
      break;
    case "scale": {
      if (!current || ev.id !== current.id) break;
      const li = document.createElement("li");
      li.dataset.testid = "preview";
      li.dataset.scale = String(ev.scale);
      li.append(drawImages(document.createElement("canvas"), ev.previews, Math.max(1, Math.floor(64 / ev.previews[0].width))));
      const cap = document.createElement("div");
      cap.textContent = `${ev.patchNum}×${ev.patchNum}: ${ev.ms.toFixed(0)} ms (+${ev.previewMs.toFixed(0)} ms preview)`;
      li.append(cap);
      ui.previews.append(li);
      ui.status.textContent = `${current.kind === "edit" ? "editing" : "generating"}: scale ${ev.scale + 1}/${ev.scales} (${ev.patchNum}×${ev.patchNum})…`;
      break;
    }
    case "done": {
      if (!current || ev.id !== current.id) break;
      const s = ev.ms / 1000;
      const n = ev.images.length;
      ui.status.dataset.ms = String(ev.ms);
      ui.status.textContent = `done: ${n} image${n === 1 ? "" : "s"} in ${s.toFixed(2)} s (${(s / n).toFixed(2)} s per image) on ${ui.backendInfo.dataset.backend}`;
      last = { images: ev.images, labels: ev.labels };
      // the worker now holds this result's tokens: an image taken from the previous one is edited from its pixels
      if (editSource?.kind === "generated" && editPixels) editSource = { kind: "image", pixels: editPixels };
      drawImages(ui.output, ev.images, zoomFor(ev.images[0].width, n));
      ui.editIndex.max = String(n);
      current = null;
      updateButtons();
      break;
    }
    case "cancelled":
      if (!current || ev.id !== current.id) break;
      ui.status.textContent = `cancelled after ${ev.afterScales} scale${ev.afterScales === 1 ? "" : "s"}`;
      current = null;
      updateButtons();
      break;
    case "cache-cleared":
      ui.cacheText.textContent = `cleared (${ev.entries} file${ev.entries === 1 ? "" : "s"})`;
      break;
    case "error":
      if (current && (ev.id === current.id || ev.id === null)) {
        ui.status.textContent = `failed: ${ev.message}`;
        current = null;
      } else if (!backendReady) ui.status.textContent = "no backend";
      else if (!model) {
        ui.modelInfo.textContent = "no model loaded";
        ui.loadProgress.hidden = true;
      }
      showError(ev.kind, ev.message);
      updateButtons();
      break;
  }
}

// ---- drawing ----

/** Images side by side, at their own pixels (the PNG's), shown `zoom` times larger. */
function drawImages(canvas: HTMLCanvasElement, images: Pixels[], zoom: number): HTMLCanvasElement {
  const { width: W, height: H } = images[0];
  canvas.width = W * images.length;
  canvas.height = H;
  const ctx = canvas.getContext("2d")!;
  images.forEach((img, i) => {
    ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), W, H), i * W, 0);
  });
  canvas.style.width = `${canvas.width * zoom}px`;
  canvas.style.height = `${H * zoom}px`;
  return canvas;
}

const zoomFor = (S: number, n: number) => Math.max(1, Math.min(Math.floor(192 / S), Math.floor(1000 / (n * S))));

// ---- controls ----

function onModel(info: ModelInfo) {
  const opts: [string, string][] = [
    ["random", "random (drawn from the seed)"],
    ["-1", "unconditional"],
  ];
  for (let c = 0; c < info.numClasses; c++) opts.push([String(c), info.classNames ? `${c}: ${info.classNames[c]}` : String(c)]);
  const prev = ui.cls.value;
  ui.cls.replaceChildren(
    ...opts.map(([v, t]) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = t;
      return o;
    }),
  );
  ui.cls.value = opts.some(([v]) => v === prev) ? prev : "0";
  const d = info.defaults ?? { cfg: 1.5, topK: 900, topP: 0.96 }; // the official FID setting
  ui.cfg.value = String(d.cfg);
  ui.topK.value = String(d.topK);
  ui.topP.value = String(d.topP);
  ui.brush.max = String(Math.max(2, Math.round(info.imageSize / 2)));
  ui.brush.value = String(Math.max(1, Math.round(info.imageSize / 8)));
  editSource = null;
  mask.reset(info.imageSize, editZoom(info.imageSize));
  clearSource(info.imageSize);
  updateButtons();
}

function num(input: HTMLInputElement, name: string, check: (v: number) => boolean, rule: string): number {
  const v = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(v) || !check(v)) throw new RangeError(`${name} must be ${rule} (got "${input.value}")`);
  return v;
}

/** The settings as typed; `labelOverride` fixes every image's class (edits that keep the source's class). */
function settings(labelOverride?: number): SamplingSettings {
  const count = num(ui.count, "images", (v) => Number.isInteger(v) && v >= 1 && v <= 64, "a whole number from 1 to 64");
  const cls = labelOverride ?? (ui.cls.value === "random" ? null : Number(ui.cls.value));
  return {
    labels: cls === null ? [] : Array(count).fill(cls),
    count,
    cfg: num(ui.cfg, "guidance", (v) => v >= 0, "≥ 0"),
    topK: num(ui.topK, "top-k", (v) => Number.isInteger(v) && v >= 0, "a whole number ≥ 0"),
    topP: num(ui.topP, "top-p", (v) => v >= 0 && v <= 1, "between 0 and 1"),
    seed: num(ui.seed, "seed", (v) => Number.isInteger(v), "a whole number"),
    moreSmooth: ui.smooth.checked,
  };
}

function updateButtons() {
  const idle = backendReady && !!model && !current;
  ui.generate.disabled = !idle;
  ui.edit.disabled = !idle || !editSource;
  ui.cancel.disabled = !current;
  ui.download.disabled = !last;
  ui.take.disabled = !last || !!current;
}

function begin(kind: "generate" | "edit", count: number): number {
  hideError();
  const id = nextId++;
  current = { id, kind, t0: performance.now(), count };
  ui.previews.replaceChildren();
  ui.status.textContent = kind === "edit" ? "editing…" : "generating…";
  updateButtons();
  return id;
}

ui.generate.onclick = () => {
  let s: SamplingSettings;
  try {
    s = settings();
  } catch (e) {
    showError("other", (e as Error).message);
    return;
  }
  send({ type: "generate", id: begin("generate", s.count), settings: s });
};

ui.cancel.onclick = () => {
  if (!current) return;
  ui.status.textContent = "cancelling (stops after the current scale)…";
  send({ type: "cancel", id: current.id });
};

ui.download.onclick = () => {
  ui.output.toBlob((blob) => {
    if (!blob) return showError("other", "the browser could not encode the PNG");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `nextscale-seed${ui.seed.value}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }, "image/png");
};

ui.backend.onchange = () => {
  const b = ui.backend.value as BackendChoice | "auto";
  const url = new URL(location.href);
  if (b === "auto") url.searchParams.delete("backend");
  else url.searchParams.set("backend", b);
  history.replaceState(null, "", url);
  startWorker(b);
};

$("clear-cache").onclick = () => send({ type: "clear-cache" });
$("load-bundled").onclick = () => loadModel({ kind: "bundled" });
$("url-form").onsubmit = (e) => {
  e.preventDefault();
  const vae = ($<HTMLInputElement>("vae-url").value || "").trim();
  const v = ($<HTMLInputElement>("var-url").value || "").trim();
  if (!vae || !v) return showError("other", "give both URLs: the VQ-VAE's and the VAR's");
  loadModel({ kind: "url", vae: new URL(vae, document.baseURI).href, var: new URL(v, document.baseURI).href });
};
$("file-form").onsubmit = (e) => {
  e.preventDefault();
  const vae = $<HTMLInputElement>("vae-file").files?.[0];
  const v = $<HTMLInputElement>("var-file").files?.[0];
  if (!vae || !v) return showError("other", "choose both files: the VQ-VAE and the VAR checkpoint");
  loadModel({ kind: "files", vae, var: v });
};

// ---- editing ----

const editZoom = (S: number) => Math.max(1, Math.floor(256 / S));
const mask = new MaskEditor(
  $<HTMLCanvasElement>("mask"),
  () => (document.querySelector<HTMLInputElement>('input[name="tool"]:checked')?.value ?? "box") as Tool,
  () => Number(ui.brush.value),
  () => updateButtons(),
);
$("clear-mask").onclick = () => mask.clear();

function clearSource(S: number) {
  ui.source.width = ui.source.height = S;
  ui.source.style.width = ui.source.style.height = `${S * editZoom(S)}px`;
  ui.source.getContext("2d")!.clearRect(0, 0, S, S);
}

function setSource(px: Pixels, source: EditSource, label: number | null) {
  drawImages(ui.source, [px], editZoom(px.width));
  editSource = source;
  editPixels = px;
  editLabel = label;
  updateButtons();
}

ui.take.onclick = () => {
  if (!last) return;
  const i = Math.min(last.images.length, Math.max(1, Math.round(Number(ui.editIndex.value) || 1))) - 1;
  setSource(last.images[i], { kind: "generated", index: i }, last.labels[i]);
};

ui.imageFile.onchange = async () => {
  const file = ui.imageFile.files?.[0];
  if (!file || !model) return;
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    showError("unsupported-file", `${file.name} is not an image this browser can read (use PNG, JPEG or WebP)`);
    return;
  }
  const S = model.imageSize;
  const fitImage = (crop: boolean) => {
    const c = new OffscreenCanvas(S, S);
    const ctx = c.getContext("2d")!;
    if (crop) {
      // the centre square, then scaled (as the official preprocessing crops the centre)
      const side = Math.min(bmp.width, bmp.height);
      ctx.drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, S, S);
    } else ctx.drawImage(bmp, 0, 0, S, S);
    const d = ctx.getImageData(0, 0, S, S);
    setSource({ width: S, height: S, data: d.data }, { kind: "image", pixels: { width: S, height: S, data: d.data } }, null);
  };
  if (bmp.width === S && bmp.height === S) return fitImage(false);
  showError("image-size", `${file.name} is ${bmp.width}×${bmp.height}; this model works on ${S}×${S} images.`, [
    { label: `resize to ${S}×${S}`, testid: "fit-resize", run: () => fitImage(false) },
    { label: `crop the centre and resize`, testid: "fit-crop", run: () => fitImage(true) },
  ]);
};

ui.edit.onclick = () => {
  if (!editSource || !model) return;
  if (mask.count() === 0) return showError("mask", "mark a region first (box or brush)");
  const mode: EditMode = ui.mode.value === "outpaint" ? "outpaint" : "inpaint";
  // in- and out-painting keep a generated image's own class; "change the class" uses the class chosen above
  const keepClass = ui.mode.value !== "class" && editLabel !== null ? editLabel : undefined;
  let s: SamplingSettings;
  try {
    s = settings(keepClass);
  } catch (e) {
    showError("other", (e as Error).message);
    return;
  }
  const S = model.imageSize;
  send({
    type: "edit",
    id: begin("edit", s.count),
    settings: s,
    source: editSource,
    mask: { width: S, height: S, data: mask.values.slice() },
    mode,
  });
};

// ---- start ----

const asked = new URLSearchParams(location.search).get("backend");
let initial: BackendChoice | "auto" = "auto";
if (asked && (BACKEND_CHOICES as readonly string[]).includes(asked)) initial = asked as BackendChoice;
else if (asked) showError("backend", `?backend=${asked} is not one of ${BACKEND_CHOICES.join(", ")}; using the best available`);
ui.backend.value = initial;
startWorker(initial);
