/**
 * Weight packing on wasm: each Linear and Conv2d weight held once, in the
 * packed form XNNPACK multiplies with (the contract: `WeightPacking` in
 * @nextscale/contract; the transform that hands over a model's weights:
 * `packForInference` in @nextscale/core).
 *
 * tfjs-wasm creates one XNNPACK operator per weight tensor on the first
 * matMul (`xnn_create_fully_connected_nc_f32`) or conv2d
 * (`xnn_create_convolution2d_nhwc_f32`) that uses it; creating the operator
 * packs the weight into memory the operator owns, and the operator is cached
 * under the tensor's id and the product's configuration until the tensor is
 * disposed. Later products with the same tensor and configuration read only
 * the packed copy, so the tensor's own heap memory can be freed: `release`
 * frees it and sets the tensor's heap offset to 0, so disposing the tensor
 * later frees nothing twice (`_free(0)` is a no-op) while tfjs still deletes
 * the cached operator. The kernel guard (kernel-guard.ts) keeps every other
 * use away from the freed memory. Convolution filters over 4 MB are sent
 * through matrix products (conv2d-by-matmul.ts): XNNPACK's convolution
 * operator keeps two packed copies, its fully connected operator one.
 *
 * This relies on tfjs-wasm's operator cache, which is not public API, so
 * `selfTest` checks it on the running build before packing is offered: it
 * packs a small matMul weight and two small convolution filters (one
 * through XNNPACK's convolution, one through matrix products), overwrites
 * their unpacked values with NaN, frees them, and runs the products again.
 * Only if every product is unchanged is packing registered.
 */
import { type ProductWeight, registerWeightPacking, type WeightPacking } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";
import type { WasmBackend } from "../kernels/wasm/backend-wasm.js";
import { type Conv2DAttrs, conv2dByMatMul } from "./conv2d-by-matmul.js";
import { KernelGuard } from "./kernel-guard.js";

interface WasmInternals extends WasmBackend {
  wasm: { _malloc(bytes: number): number; _free(ptr: number): void; HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
}

/**
 * Filters up to this size keep XNNPACK's convolution (about 20% faster than
 * matrix products at 256×256): its second packed copy costs little there,
 * while im2col would copy the largest activations. In the VQ-VAE decoder
 * these are the 160- and 320-channel convolutions at 64×64 to 256×256
 * (under 50 MB of second copies in all); the 640-channel ones (15 MB each)
 * at 16×16 and 32×32 go through matrix products.
 */
export const CONV2D_KEEP_MAX_BYTES = 4 << 20;
let convByMatMulAbove = CONV2D_KEEP_MAX_BYTES;

const guard = new KernelGuard("wasm", (call, input) => {
  if (call.kernel !== "Conv2D" || input !== "filter") return null;
  if (4 * tf.util.sizeFromShape(call.inputs.filter!.shape) <= convByMatMulAbove) return null;
  const matMul = guard.original("BatchMatMul");
  return ({ inputs, backend, attrs }) =>
    conv2dByMatMul(inputs.x!, inputs.filter!, attrs as unknown as Conv2DAttrs, backend as unknown as WasmBackend, matMul);
});

function internals(): WasmInternals | null {
  if (tf.getBackend() !== "wasm") return null;
  const be = tf.backend() as unknown as Partial<WasmInternals>;
  return be.wasm && be.dataIdMap ? (be as WasmInternals) : null;
}

/**
 * Staging: a weight about to be packed is written into a heap block that is
 * kept when the weight is released and reused for the next one, so a load
 * allocates, besides this block, only the packed copies, back to back.
 * (Freeing each unpacked weight instead leaves holes between the packed
 * copies that the next, differently sized weights fit badly: 0.2 GB of
 * d16's 1.2 GB.) A staged tensor that is never released keeps its block,
 * which tfjs frees when the tensor is disposed.
 */
let spare: { offset: number; bytes: number } | null = null;
const staged = new WeakMap<object, { offset: number; bytes: number }>();
const STAGE_ROUND = 4 << 20;

function stage(shape: number[], fill: (dst: Float32Array) => void): tf.Tensor {
  const be = internals();
  if (!be) throw new Error("weight staging needs the wasm backend");
  const bytes = 4 * tf.util.sizeFromShape(shape);
  let block = spare;
  spare = null;
  if (block && block.bytes < bytes) {
    be.wasm._free(block.offset);
    block = null;
  }
  if (!block) {
    const size = Math.ceil(Math.max(bytes, 1) / STAGE_ROUND) * STAGE_ROUND;
    const offset = be.wasm._malloc(size) >>> 0;
    if (!offset) throw new Error(`out of WebAssembly memory staging a ${bytes}-byte weight`);
    block = { offset, bytes: size };
  }
  fill(new Float32Array(be.wasm.HEAPF32.buffer, block.offset, bytes / 4));
  const info = be.makeOutput(shape, "float32", block.offset);
  staged.set(info.dataId, block);
  return tf.engine().makeTensorFromTensorInfo(info);
}

function flush(): void {
  const be = internals();
  if (be && spare) be.wasm._free(spare.offset);
  spare = null;
}

/** Free `w`'s heap values (after overwriting them with NaN when `poison`). */
function release(be: WasmInternals, w: tf.Tensor, poison: boolean): boolean {
  const data = be.dataIdMap.get(w.dataId);
  if (!data?.memoryOffset) return false;
  if (poison) be.wasm.HEAPF32.fill(Number.NaN, data.memoryOffset / 4, data.memoryOffset / 4 + w.size);
  const block = staged.get(w.dataId);
  if (block?.offset === data.memoryOffset) {
    staged.delete(w.dataId);
    if (spare) be.wasm._free(spare.offset); // keep one block: the newer, as large as the last weight
    spare = block;
  } else {
    be.wasm._free(data.memoryOffset);
  }
  data.memoryOffset = 0;
  return true;
}

function pack(w: ProductWeight, poison = false): boolean {
  const be = internals();
  if (!be || w.tensor.dtype !== "float32" || w.tensor.isDisposed || guard.isPacked(w.tensor)) return false;
  guard.install();
  const use = guard.observe(w.tensor, w.name, () => w.warm());
  if (!use || !release(be, w.tensor, poison)) return false;
  guard.seal(w.tensor, use);
  return true;
}

const packing: WeightPacking = { pack: (w) => pack(w), isPacked: (t) => guard.isPacked(t), stage, flush };

/** Whether products still give the same results once their weights' unpacked values are freed. */
export function selfTest(): { ok: boolean; reason?: string } {
  if (!internals()) return { ok: false, reason: "not the tfjs-wasm backend" };
  const x = (shape: number[]) => tf.reshape(tf.range(1, tf.util.sizeFromShape(shape) + 1), shape);
  const cases: [string, number[], (w: tf.Tensor) => tf.Tensor, number][] = [
    ["matMul", [4, 3], (w) => tf.matMul(x([2, 4]) as tf.Tensor2D, w as tf.Tensor2D), CONV2D_KEEP_MAX_BYTES],
    ["conv2d", [3, 3, 2, 5], (w) => tf.conv2d(x([1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, "same"), CONV2D_KEEP_MAX_BYTES],
    ["conv2d as matrix products", [3, 3, 2, 5], (w) => tf.conv2d(x([1, 4, 4, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, "same"), 0],
  ];
  for (const [name, shape, product, threshold] of cases) {
    const w = tf.tidy(() => tf.div(tf.reshape(tf.range(0, tf.util.sizeFromShape(shape)), shape), 7));
    convByMatMulAbove = threshold;
    try {
      // the values the packing product gives while the unpacked weight is still there
      const before: Float32Array[] = [];
      const warm = () => {
        before.push(tf.tidy(() => product(w).dataSync() as Float32Array));
      };
      if (!pack({ name: `self-test ${name}`, tensor: w, warm }, true)) {
        return { ok: false, reason: `${name}: the weight's heap memory could not be found` };
      }
      const after = tf.tidy(() => product(w).dataSync());
      const b = before[0];
      const same = !!b && b.length === after.length && b.every((v, i) => Number.isFinite(v) && v === after[i]);
      if (!same) return { ok: false, reason: `${name}: this tfjs-wasm build reads the weight again after packing it` };
    } finally {
      convByMatMulAbove = CONV2D_KEEP_MAX_BYTES;
      w.dispose();
    }
  }
  return { ok: true };
}

let status: { ok: boolean; reason?: string } | null = null;

/** Register wasm weight packing if the self-test passes; returns the outcome (cached). */
export function registerWasmWeightPacking(): { ok: boolean; reason?: string } {
  status ??= selfTest();
  registerWeightPacking("wasm", status.ok ? packing : null);
  return status;
}

/** The self-test's outcome, once the wasm backend has initialised. */
export function wasmWeightPackingStatus(): { ok: boolean; reason?: string } | null {
  return status;
}
