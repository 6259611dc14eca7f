/**
 * Packed weights, enforced where every tensor is used: at the kernels.
 *
 * Once a backend has freed a weight's unpacked values (its product kernel
 * holds a packed copy), the tensor may go only to the kernel call it was
 * packed for: the same kernel, input slot and attributes. `KernelGuard`
 * wraps every kernel registered for its backend, and the backend's reads,
 * so that any other use (a read, an export, a transpose, another product,
 * anything under a gradient tape) throws `PackedWeightError` naming the
 * weight instead of reading freed memory. Model code knows nothing of it.
 *
 * Which use a weight keeps is observed, not declared: `observe` runs the
 * layer's product once and records the first kernel call that takes the
 * tensor. A backend may reroute that call (wasm sends large convolution
 * filters through matrix products); the reroute then serves every later
 * call too.
 */
import { PackedWeightError } from "@nextscale/contract";
import * as tf from "@tensorflow/tfjs-core";

export interface KernelCall {
  kernel: string;
  inputs: tf.NamedTensorInfoMap;
  attrs: tf.NamedAttrMap;
  backend: tf.KernelBackend;
}

/** The one use a packed tensor keeps. */
interface Use {
  /** The weight's name, for errors. */
  name: string;
  kernel: string;
  input: string;
  /** The call's attributes as canonical JSON. */
  attrs: string;
  /** Runs the call instead of the registered kernel (see `reroute`). */
  route: tf.KernelFunc | null;
}

/** Attributes as JSON with sorted keys, so equal attributes compare equal. */
function canonical(attrs: tf.NamedAttrMap | undefined): string {
  const a = attrs ?? {};
  return JSON.stringify(a, Object.keys(a).sort());
}

const describe = (u: Pick<Use, "kernel" | "input" | "attrs">) => `${u.kernel}(${u.input}, ${u.attrs})`;

export class KernelGuard {
  private readonly packed = new WeakMap<object, Use>();
  private readonly originals = new Map<string, tf.KernelFunc>();
  private watching: { dataId: object; name: string; use?: Use } | null = null;
  private installed = false;
  private guardedBackend: object | null = null;

  constructor(
    readonly backend: string,
    /** A replacement for the first call of a tensor being packed, or null to keep the kernel. */
    private readonly reroute: (call: KernelCall, input: string) => tf.KernelFunc | null = () => null,
  ) {}

  /**
   * Wrap every kernel registered for the backend now (once; kernels
   * registered later are not guarded), and the reads of its current
   * instance.
   */
  install(): void {
    if (!this.installed) {
      this.installed = true;
      for (const config of tf.getKernelsForBackend(this.backend)) {
        const original = config.kernelFunc;
        this.originals.set(config.kernelName, original);
        tf.unregisterKernel(config.kernelName, this.backend);
        tf.registerKernel({ ...config, kernelFunc: (args) => this.run(config.kernelName, original, args) });
      }
    }
    const instance = tf.findBackend(this.backend);
    if (!instance || instance === this.guardedBackend) return;
    this.guardedBackend = instance;
    const be = instance as unknown as Record<"read" | "readSync", (dataId: object, ...rest: unknown[]) => unknown>;
    for (const method of ["read", "readSync"] as const) {
      const read = be[method].bind(be);
      be[method] = (dataId, ...rest) => {
        const use = this.packed.get(dataId);
        if (use) throw this.refuse(use, "read");
        return read(dataId, ...rest);
      };
    }
  }

  /** The kernel function as registered before `install`, for reroutes that call kernels on packed tensors. */
  original(kernel: string): tf.KernelFunc {
    const f = this.originals.get(kernel) ?? tf.getKernel(kernel, this.backend)?.kernelFunc;
    if (!f) throw new Error(`${this.backend}: no kernel "${kernel}" registered`);
    return f;
  }

  /** Run `warm` and return the first kernel use of `t` in it, or null when no kernel took `t`. */
  observe(t: tf.Tensor, name: string, warm: () => void): Use | null {
    this.watching = { dataId: t.dataId, name };
    try {
      warm();
      return this.watching.use ?? null;
    } finally {
      this.watching = null;
    }
  }

  /** From now on `t` serves only `use` (its unpacked values are gone). */
  seal(t: tf.Tensor, use: Use): void {
    this.packed.set(t.dataId, use);
  }

  isPacked(t: tf.Tensor): boolean {
    return this.packed.has(t.dataId);
  }

  private run(kernel: string, original: tf.KernelFunc, args: Parameters<tf.KernelFunc>[0]): ReturnType<tf.KernelFunc> {
    for (const [input, info] of Object.entries(args.inputs)) {
      if (!info) continue;
      const use = this.packed.get(info.dataId);
      if (use) {
        if (use.kernel !== kernel || use.input !== input || use.attrs !== canonical(args.attrs)) {
          throw this.refuse(use, `used by ${describe({ kernel, input, attrs: canonical(args.attrs) })}`);
        }
        if ((tf.engine().state as { gradientDepth?: number }).gradientDepth) throw this.refuse(use, "used under a gradient tape");
        return (use.route ?? original)(args);
      }
      const w = this.watching;
      if (w && !w.use && info.dataId === w.dataId) {
        const call: KernelCall = { kernel, inputs: args.inputs, attrs: args.attrs ?? {}, backend: args.backend as tf.KernelBackend };
        w.use = { name: w.name, kernel, input, attrs: canonical(args.attrs), route: this.reroute(call, input) };
        return (w.use.route ?? original)(args);
      }
    }
    return original(args);
  }

  private refuse(use: Use, what: string): PackedWeightError {
    return new PackedWeightError(
      `weight "${use.name}" is packed for inference on ${this.backend} (its unpacked values are freed; it serves only ` +
        `${describe(use)}) and cannot be ${what}: load the model without packing to read, export or train its weights`,
    );
  }
}
