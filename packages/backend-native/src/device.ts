/**
 * The device interface: what a device of this backend implements, and all
 * the tfjs backend (backend.ts) and its kernels (kernels/*.ts) use of it.
 * A device computes float32 kernels on buffers it can address; the CPU
 * device's buffers are the host `Float32Array`s the backend keeps its
 * tensors in, so it needs no allocator of its own. A CUDA device adds
 * `alloc`/`copyIn`/`copyOut` (tinygrad's `_alloc/_copyin/_copyout`) and
 * takes device buffers in the same entry points; see the README.
 *
 * Every entry point is synchronous, writes its output into the buffer it is
 * given (allocated by the caller, never aliased with an input) and takes
 * row-major shapes.
 */

/** Activations of the fused products (`_FusedMatMul`, `FusedConv2D`), as tfjs names them. */
export const ACTIVATIONS = { linear: 0, relu: 1, relu6: 2, sigmoid: 3, elu: 4, leakyrelu: 5 } as const;
/** Binary element-wise ops by tfjs kernel name. */
export const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const;
/** Unary element-wise ops by tfjs kernel name. */
export const UNARY_OPS = { Exp: 0, Log: 1, Neg: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Relu: 6, Sigmoid: 7, Tanh: 8, Abs: 9 } as const;
/** Reductions over the innermost axes by tfjs kernel name. */
export const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

type F32 = Float32Array;

export interface Device {
  /** C (batch, M, N) = op(A)·op(B); a batch of 1 on either side is broadcast. */
  matmul(a: F32, b: F32, c: F32, batchA: number, batchB: number, M: number, N: number, K: number, tA: boolean, tB: boolean): void;
  /** In place on c (rows, N): add bias (N values, or 1 when !perColumn; null: none), then an `ACTIVATIONS` code. */
  biasAct(c: F32, bias: F32 | null, rows: number, N: number, perColumn: boolean, act: number, alpha: number): void;
  /**
   * geom: Int32Array [B, H, W, Ci, Ho, Wo, Co, KH, KW, strideH, strideW, dilationH, dilationW, padTop, padLeft];
   * NHWC activations, HWIO filters.
   */
  conv2d(geom: Int32Array, x: F32, w: F32, y: F32): void;
  conv2dBackpropFilter(geom: Int32Array, x: F32, dy: F32, dw: F32): void;
  conv2dBackpropInput(geom: Int32Array, dy: F32, w: F32, dx: F32): void;
  /** out (shape) = a op b with per-dimension element strides of a and b (0: broadcast). */
  binary(op: number, a: F32, b: F32, out: F32, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  unary(op: number, x: F32, y: F32): void;
  /** y (shape, contiguous) = x read with per-dimension element strides (a transpose, a slice: x a subarray at its start). */
  stridedCopy(x: F32, y: F32, shape: Int32Array, xStrides: Int32Array): void;
  /** Softmax over the last axis of x (rows, n). */
  softmax(x: F32, y: F32, rows: number, n: number): void;
  /** y (outer) = reduction of x (outer, inner) over its last axis. */
  reduce(op: number, x: F32, y: F32, outer: number, inner: number): void;
  /** y (cols) = reduction of x (rows, cols) over its first axis (optional: else a transposed copy, then reduce). */
  reduceOuter?(op: number, x: F32, y: F32, rows: number, cols: number): void;
  // the fused kernels of @nextscale/contract
  adaLNModulate(x: F32, scale: F32, shift: F32, y: F32, B: number, L: number, C: number, eps: number): void;
  kvAttention(q: F32, k: F32, v: F32, o: F32, BH: number, Lq: number, Lk: number, c: number, scale: number): void;
  groupNormAct(x: F32, gamma: F32, beta: F32, y: F32, B: number, P: number, C: number, groups: number, eps: number, silu: boolean): void;
  resample2d(x: F32, mh: F32, mw: F32, y: F32, B: number, H: number, W: number, C: number, h: number, w: number): void;
  // the training kernels of @nextscale/contract (the CPU device only: optional)
  groupNormActGrad?(x: F32, gamma: F32, beta: F32, dy: F32, dx: F32, dgamma: F32, dbeta: F32, B: number, P: number, C: number, groups: number, eps: number, silu: boolean): void;
  geluTanh?(x: F32, y: F32, n: number): void;
  geluTanhGrad?(x: F32, dy: F32, dx: F32, n: number): void;
  /** consts: decay, β1, 1 − β1, β2, 1 − β2, √(1 − β2^t), eps, −step size (float32). */
  adamWUpdate?(p: F32, grad: F32, m: F32, v: F32, gradScale: F32 | null, pOut: F32, mOut: F32, vOut: F32, n: number, consts: F32): void;
  setThreads(n: number): void;
  info(): DeviceInfo;
}

/** What a device runs on: its threads, its BLAS, and for the CPU device the convolutions' library ("" when im2col + BLAS). */
export interface DeviceInfo {
  threads: number;
  blas: string;
  dnnl?: string;
  dnnlEnabled?: boolean;
}

/** One line for a device's info: "OpenBLAS …, convolutions oneDNN 2.6.3, 2 threads". */
export function describeDevice(i: DeviceInfo): string {
  return `${i.blas}${i.dnnl && i.dnnlEnabled ? `, convolutions ${i.dnnl}` : ""}, ${i.threads} threads`;
}

/** The addon's exports: the CPU device plus the CUDA device's probe. */
export interface Addon extends Device {
  /** "" when the CUDA library at `path` finds a device, else why not. */
  cudaProbe(path: string): string;
  /** 1: the convolutions through oneDNN where the addon was built with it (the default); 0: im2col + sgemm. */
  useDnnl(on: number): void;
}
