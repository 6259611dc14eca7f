/**
 * The tfjs backend "cuda": a `KernelBackend` whose float32 tensors live in
 * device memory (one buffer per data id, from the caching allocator, with a
 * reference count), copied in on `write`/`move` and out on `read`/`readSync`
 * (the only places that wait for the stream). Tensors of other dtypes
 * (int32, bool, string) stay in host memory: the device computes float32
 * only, and their kernels run on tfjs-backend-cpu (kernels.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { CachingAllocator } from "./allocator.js";
import type { CudaDevice } from "./device.js";

type HostValues = tf.backend_util.BackendValues;

interface Entry {
  /** Device buffer of a float32 tensor (0 when empty or on the host). */
  ptr: number;
  /** Elements. */
  size: number;
  dtype: tf.DataType;
  /** Values of a non-float32 tensor. */
  host?: HostValues;
  refCount: number;
}

export class CudaBackend extends tf.KernelBackend {
  readonly data: tf.DataStorage<Entry>;
  readonly allocator: CachingAllocator;

  constructor(
    readonly device: CudaDevice,
    readonly emulated: boolean,
  ) {
    super();
    this.data = new tf.DataStorage(this, tf.engine());
    this.allocator = new CachingAllocator(device);
  }

  /** A new data id holding `values` (copied to the device when float32). */
  override write(values: HostValues | null, shape: number[], dtype: tf.DataType): tf.DataId {
    const dataId = {};
    this.store(dataId, values, shape, dtype, 1);
    return dataId;
  }

  override move(dataId: tf.DataId, values: HostValues | null, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.store(dataId, values, shape, dtype, refCount);
  }

  private store(dataId: tf.DataId, values: HostValues | null, shape: number[], dtype: tf.DataType, refCount: number): void {
    const size = tf.util.sizeFromShape(shape);
    if (dtype === "float32") {
      const ptr = size ? this.allocator.alloc(size * 4) : 0;
      if (values && size) this.device.copyIn(ptr, values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>));
      this.data.set(dataId, { ptr, size, dtype, refCount });
    } else {
      if (dtype === "complex64") throw new Error("cuda: complex64 tensors are not supported");
      const host = values ?? tf.util.getTypedArrayFromDType(dtype as "int32" | "bool", size);
      this.data.set(dataId, { ptr: 0, size, dtype, host, refCount });
    }
  }

  /** An uninitialised float32 output on the device. */
  makeOutput(shape: number[]): tf.TensorInfo & { ptr: number } {
    const dataId = {};
    const size = tf.util.sizeFromShape(shape);
    const ptr = size ? this.allocator.alloc(size * 4) : 0;
    this.data.set(dataId, { ptr, size, dtype: "float32", refCount: 1 });
    return { dataId, shape, dtype: "float32", ptr };
  }

  /** The entry of a tensor (throws for one that was disposed). */
  entry(t: tf.TensorInfo): Entry {
    const e = this.data.get(t.dataId);
    if (!e) throw new Error("cuda: tensor data was disposed");
    return e;
  }

  override readSync(dataId: tf.DataId): HostValues {
    const e = this.data.get(dataId);
    if (!e) throw new Error("cuda: reading disposed data");
    if (e.host) return e.host;
    const out = new Float32Array(e.size);
    if (e.size) this.device.copyOut(e.ptr, out);
    const err = this.device.lastError();
    if (err) throw new Error(`cuda: ${err}`);
    return out;
  }

  override async read(dataId: tf.DataId): Promise<HostValues> {
    return this.readSync(dataId);
  }

  override readToGPU(): never {
    throw new Error("cuda: readToGPU is not supported");
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const e = this.data.get(dataId);
    if (!e) return true;
    e.refCount--;
    if (!force && e.refCount > 0) return false;
    if (e.ptr) this.allocator.release(e.ptr);
    this.data.delete(dataId);
    return true;
  }

  override incRef(dataId: tf.DataId): void {
    const e = this.data.get(dataId);
    if (e) e.refCount++;
  }

  override refCount(dataId: tf.DataId): number {
    return this.data.get(dataId)?.refCount ?? 0;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  override memory(): { unreliable: boolean; bytesInUse: number; bytesCached: number; deviceAllocs: number; reused: number } {
    const a = this.allocator;
    return { unreliable: false, bytesInUse: a.bytesInUse, bytesCached: a.bytesCached, deviceAllocs: a.deviceAllocs, reused: a.reused };
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const t0 = performance.now();
    f();
    this.device.sync();
    return { kernelMs: performance.now() - t0 };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    this.device.sync();
    this.allocator.emptyCache();
  }
}
