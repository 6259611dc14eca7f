/**
 * The messages between the page (src/main.ts) and the model worker
 * (src/worker.ts). The page only draws and collects input; every model call
 * runs in the worker. Progress carries pixels (RGBA bytes, as ImageData
 * holds them), never tensors, so the page needs no tfjs.
 *
 * One worker serves one backend: choosing another backend starts a new
 * worker (tfjs keeps one backend per realm, and a model's weights live on
 * the backend that loaded them).
 */

export type BackendChoice = "webgpu" | "wasm" | "cpu";
export const BACKEND_CHOICES: readonly BackendChoice[] = ["webgpu", "wasm", "cpu"];

/** ImageData-like: width × height RGBA bytes, row-major. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** Where the two checkpoints come from. */
export type ModelSource =
  | { kind: "bundled" }
  | { kind: "url"; vae: string; var: string }
  | { kind: "files"; vae: File; var: File };

export interface SamplingSettings {
  /** One label per image; −1 = unconditional. Empty: each image's class is drawn from the seed. */
  labels: number[];
  /** Number of images (used when `labels` is empty). */
  count: number;
  cfg: number;
  topK: number;
  topP: number;
  seed: number;
  moreSmooth: boolean;
}

/** The source of an edit: an image of the last generation (its own tokens are kept), or any image of the model's size. */
export type EditSource = { kind: "generated"; index: number } | { kind: "image"; pixels: Pixels };

export type EditMode = "inpaint" | "outpaint";

export type Request =
  /** First message: initialise this backend (wasmPaths: where the .wasm files are served). */
  | { type: "init"; backend: BackendChoice | "auto"; wasmPaths: string }
  | { type: "load"; source: ModelSource }
  | { type: "generate"; id: number; settings: SamplingSettings }
  /** mask: the model's image size, 1 = marked (in-painting regenerates it, out-painting keeps it). */
  | { type: "edit"; id: number; settings: SamplingSettings; source: EditSource; mask: { width: number; height: number; data: Float32Array }; mode: EditMode }
  | { type: "cancel"; id: number }
  | { type: "clear-cache" };

export interface BackendAvailability {
  name: BackendChoice;
  available: boolean;
  /** Why not, or what it runs on. */
  reason: string;
}

/** What went wrong, so the page can offer the right way out. */
export type ErrorKind = "unsupported-file" | "image-size" | "out-of-memory" | "backend" | "mask" | "download" | "other";

export interface ModelInfo {
  name: string;
  imageSize: number;
  numClasses: number;
  patchNums: number[];
  /** Class names when known (the bundled model; 1000-class ImageNet models). */
  classNames: string[] | null;
  /** The model's own sampling settings, when it has them (the bundled model). */
  defaults: { cfg: number; topK: number; topP: number } | null;
}

export type WorkerEvent =
  | {
      type: "backends";
      list: BackendAvailability[];
      /** WebGPU: whether the adapter offers `shader-f16` (null: no adapter). */
      shaderF16: boolean | null;
      crossOriginIsolated: boolean;
    }
  | { type: "ready"; backend: BackendChoice; device: string; threads: number | null }
  | { type: "load-progress"; phase: "download" | "parse"; file: string; loaded: number; total: number; cached: boolean }
  | { type: "loaded"; info: ModelInfo; ms: number }
  | {
      type: "scale";
      id: number;
      scale: number;
      scales: number;
      patchNum: number;
      /** This scale's transformer + sampling time, and its preview's decode time. */
      ms: number;
      previewMs: number;
      previews: Pixels[];
    }
  | { type: "done"; id: number; images: Pixels[]; labels: number[]; ms: number }
  | { type: "cancelled"; id: number; afterScales: number }
  | { type: "cache-cleared"; entries: number }
  | { type: "error"; id: number | null; kind: ErrorKind; message: string };
