/**
 * The CUDA device as the backend sees it: the Node binding of a device
 * build (native/cuda/binding.cc), either on a GPU (build/nextscale_cuda.node,
 * nvcc) or the host emulation (build/nextscale_cuda_emu.node, g++: the same
 * kernel bodies as loops on the CPU; selected by NEXTSCALE_CUDA_EMULATE=1 or
 * `{ emulate: true }`). Device pointers are numbers; every kernel is
 * enqueued on one stream; only `copyOut` and `sync` wait for it.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const BUILD = fileURLToPath(new URL("../../build/", import.meta.url));

type Ptr = number;

export interface CudaDevice {
  /** "" when usable, else why not (called once, before anything else). */
  init(): string;
  deviceName(): string;
  gemmName(): string;
  /** The first asynchronous error since the last call, "" if none. */
  lastError(): string;
  /** A device buffer of `bytes`, 0 when out of memory. */
  alloc(bytes: number): Ptr;
  free(p: Ptr): void;
  copyIn(p: Ptr, src: Float32Array): void;
  /** Waits for the stream. */
  copyOut(p: Ptr, dst: Float32Array): void;
  sync(): void;
  /** out (dims) = a op b, element strides of a and b per dimension (0: broadcast); BINARY_OPS codes. */
  binary(op: number, a: Ptr, b: Ptr, out: Ptr, n: number, dims: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  unary(op: number, x: Ptr, y: Ptr, n: number): void;
  /** Each element of dims read from x with xStrides, written to y with yStrides (x, y: addresses of their first elements). */
  stridedCopy(x: Ptr, y: Ptr, n: number, dims: Int32Array, xStrides: Int32Array, yStrides: Int32Array): void;
  /** y (outer) = REDUCE_OPS reduction of x (outer, inner) over its last axis. */
  reduce(op: number, x: Ptr, y: Ptr, outer: number, inner: number): void;
  softmax(x: Ptr, y: Ptr, rows: number, n: number): void;
  matmul(a: Ptr, b: Ptr, c: Ptr, batchA: number, batchB: number, M: number, N: number, K: number, tA: boolean, tB: boolean): void;
  kvAttention(q: Ptr, k: Ptr, v: Ptr, o: Ptr, BH: number, Lq: number, Lk: number, c: number, scale: number): void;
  groupNormAct(x: Ptr, gamma: Ptr, beta: Ptr, y: Ptr, B: number, P: number, C: number, groups: number, eps: number, silu: boolean): void;
  resample2d(x: Ptr, mh: Ptr, mw: Ptr, y: Ptr, B: number, H: number, W: number, C: number, h: number, w: number): void;
  /** col (B·Ho·Wo, KH·KW·Ci) of x (NHWC) for the geometry `geom` (src/device.ts's conv2d geom). */
  im2col(geom: Int32Array, x: Ptr, col: Ptr): void;
  /** dx (B, H, W, Ci) of dy (B, Ho, Wo, Co) and HWIO w, gathered per input element. */
  conv2dBackpropInput(geom: Int32Array, dy: Ptr, w: Ptr, dx: Ptr): void;
  adaLN(x: Ptr, scale: Ptr, shift: Ptr, y: Ptr, B: number, L: number, C: number, eps: number): void;
}

interface BuildStatus {
  cuda?: { built: boolean; reason: string };
  cudaEmulation?: { built: boolean; reason: string };
}

/** Whether NEXTSCALE_CUDA_EMULATE=1 asks for the host emulation. */
export const emulateFromEnv = (): boolean => process.env.NEXTSCALE_CUDA_EMULATE === "1";

const cache = new Map<boolean, { device?: CudaDevice; reason?: string }>();

/** The initialised device (the emulation when `emulate`), or why there is none. Never throws. */
export function loadCudaDevice(emulate: boolean): { device?: CudaDevice; reason?: string; built: boolean } {
  const built = isBuilt(emulate);
  let r = cache.get(emulate);
  if (!r) {
    r = tryLoad(emulate);
    cache.set(emulate, r);
  }
  return { ...r, built };
}

function readStatus(): BuildStatus | string {
  const file = `${BUILD}status.json`;
  if (!existsSync(file)) return "not built (build/status.json is missing: run `node scripts/build.mjs` in the package)";
  try {
    return JSON.parse(readFileSync(file, "utf8")) as BuildStatus;
  } catch (e) {
    return `not built (build/status.json is unreadable: ${(e as Error).message})`;
  }
}

function isBuilt(emulate: boolean): boolean {
  const s = readStatus();
  return typeof s !== "string" && !!(emulate ? s.cudaEmulation : s.cuda)?.built;
}

function tryLoad(emulate: boolean): { device?: CudaDevice; reason?: string } {
  const s = readStatus();
  if (typeof s === "string") return { reason: s };
  const entry = emulate ? s.cudaEmulation : s.cuda;
  const what = emulate ? "the host emulation" : "the CUDA device";
  if (!entry?.built) return { reason: `not built: ${entry?.reason || `${what} is missing from build/status.json (rebuild)`}` };
  const file = `${BUILD}${emulate ? "nextscale_cuda_emu.node" : "nextscale_cuda.node"}`;
  let device: CudaDevice;
  try {
    device = createRequire(import.meta.url)(file) as CudaDevice;
  } catch (e) {
    return { reason: `${what} cannot be loaded (${(e as Error).message})` };
  }
  const why = device.init();
  return why ? { reason: why } : { device };
}
