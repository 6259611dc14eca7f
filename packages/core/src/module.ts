/**
 * A module tree whose parameter and buffer names are PyTorch state-dict
 * names (`blocks.3.attn.mat_qkv.weight`), so official checkpoints load by
 * name with no mapping table. Modeled on `torch.nn.Module`: children are
 * registered under their attribute names, `ModuleList` children under
 * their indices.
 *
 * Parameters are declared with their PyTorch shape and materialised only
 * when a checkpoint is loaded or weights are initialised, so a model is
 * never held twice. A parameter may keep a different internal layout (conv
 * weights are HWIO for tfjs' NHWC convolutions); `stateDict()` and
 * `loadStateDict()` always speak PyTorch's layout.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type HostTensor, numel, toFloat32, toInt32 } from "./io/dtype.js";
import type { TensorStore } from "./io/store.js";
import { flushWeightStaging, PackedWeightError, weightPacking } from "./packing.js";

/**
 * How a parameter is stored internally relative to PyTorch's layout:
 * `conv2d-hwio` for tfjs' NHWC convolutions, `linear-io` (the transpose of
 * PyTorch's (out, in)) because x·W runs about 10× faster than x·Wᵀ on the
 * wasm backend (measured: 27 vs 2.3 GFLOP/s for a 512×1024·1024×4096 product).
 */
export type Layout = "torch" | "conv2d-hwio" | "linear-io";

export class Parameter {
  private v: tf.Variable | null = null;
  /** The product configuration the backend packed this weight for, once its unpacked values are freed. */
  private packedFor: string | null = null;
  /** Called after every new value (layers that pack their weight set it). */
  onSet: (() => void) | null = null;
  constructor(
    /** Full state-dict name, set when the tree is walked. */
    public name: string,
    /** PyTorch shape (what the state dict holds). */
    readonly shape: readonly number[],
    readonly opts: { layout: Layout; trainable: boolean; dtype: "float32" | "int32" },
  ) {}

  get isSet(): boolean {
    return this.v !== null;
  }
  /** The value in internal layout; throws if never loaded or initialised, or if packed (see `packedFor`). */
  get value(): tf.Variable {
    if (this.packedFor !== null) {
      throw new PackedWeightError(
        `parameter "${this.name}" was packed for inference (packForInference) and its unpacked values freed: ` +
          "load the weights again without packing to read, export or train them",
      );
    }
    return this.present();
  }
  private present(): tf.Variable {
    if (!this.v) {
      throw new Error(`parameter "${this.name}" has no value: load a checkpoint or initialise the weights first`);
    }
    return this.v;
  }
  /** Whether the backend holds this weight only in packed form. */
  get isPacked(): boolean {
    return this.packedFor !== null;
  }
  /**
   * The tensor to hand to the product kernel configured as `config`: the
   * value, which after packing only that same product may use.
   */
  productValue(config: string): tf.Variable {
    if (this.packedFor !== null && this.packedFor !== config) {
      throw new PackedWeightError(`parameter "${this.name}" was packed for ${this.packedFor} and cannot be used for ${config}`);
    }
    if (this.packedFor !== null && (tf.engine().state as { gradientDepth?: number }).gradientDepth) {
      throw new PackedWeightError(`parameter "${this.name}" was packed for inference: gradients need its unpacked values`);
    }
    return this.present();
  }
  /** Record that the backend freed the unpacked values (see `packing.ts`); only `productValue(config)` works from now on. */
  markPacked(config: string): void {
    this.packedFor = config;
  }
  /** Internal shape (e.g. HWIO for conv weights). */
  get internalShape(): number[] {
    const s = this.shape;
    if (this.opts.layout === "conv2d-hwio") return [s[2], s[3], s[1], s[0]];
    if (this.opts.layout === "linear-io") return [s[1], s[0]];
    return [...s];
  }
  /** Set from a tensor in internal layout; takes ownership of `t`. */
  setInternal(t: tf.Tensor): void {
    const want = this.internalShape;
    if (!tf.util.arraysEqual(t.shape, want)) {
      throw new Error(`parameter "${this.name}": internal shape [${t.shape}] != [${want}]`);
    }
    if (this.v) {
      this.v.assign(t);
      t.dispose();
    } else {
      this.v = tf.variable(t, this.opts.trainable, `${this.name}#${variableId++}`, this.opts.dtype);
      t.dispose();
    }
    this.packedFor = null;
    this.onSet?.();
  }
  /**
   * Set from host values in PyTorch layout (a checkpoint's, or drawn on the
   * host): rearranged to the internal layout on the host and uploaded once,
   * so loading leaves no freed copies behind; a weight its layer will pack
   * goes through the backend's staging memory (see `packing.ts`).
   */
  setTorchHost(values: Float32Array | Int32Array): void {
    const shape = this.internalShape;
    if (values.length !== numel(this.shape)) {
      throw new Error(`parameter "${this.name}": ${values.length} values for shape [${this.shape}]`);
    }
    const stage = this.onSet && values instanceof Float32Array ? weightPacking()?.stage : undefined;
    if (stage) {
      this.setInternal(stage(shape, (dst) => toInternalLayout(values, this.shape, this.opts.layout, dst)));
      return;
    }
    const data =
      this.opts.layout === "torch"
        ? values
        : toInternalLayout(values, this.shape, this.opts.layout, new (values.constructor as Float32ArrayConstructor)(values.length));
    this.setInternal(tf.tensor(data, shape, this.opts.dtype));
  }
  /** Set from a tensor in PyTorch layout. */
  setTorch(t: tf.Tensor): void {
    const { layout } = this.opts;
    this.setInternal(
      layout === "conv2d-hwio" ? tf.tidy(() => tf.transpose(t, [2, 3, 1, 0])) : layout === "linear-io" ? tf.transpose(t) : t.clone(),
    );
    t.dispose();
  }
  /** Copy out in PyTorch layout (caller disposes). */
  toTorch(): tf.Tensor {
    return fromInternal(this.value, this.opts.layout);
  }
  dispose(): void {
    this.v?.dispose();
    this.v = null;
    this.packedFor = null;
  }
}

let variableId = 0;

/** Rearrange host values from PyTorch layout (`shape`) to `layout` into `dst`. */
export function toInternalLayout<T extends Float32Array | Int32Array>(src: T, shape: readonly number[], layout: Layout, dst: T): T {
  if (layout === "torch") {
    dst.set(src);
    return dst;
  }
  if (layout === "linear-io") {
    transpose2d(src, shape[0], shape[1], dst); // (out, in) -> (in, out)
    return dst;
  }
  // conv2d-hwio: (O, I, kh, kw) -> (kh, kw, I, O): for each (o, i), its kh·kw taps go to stride I·O
  const [O, I, kh, kw] = shape;
  const taps = kh * kw;
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      const s = (o * I + i) * taps;
      const d = i * O + o;
      for (let t = 0; t < taps; t++) dst[t * I * O + d] = src[s + t];
    }
  }
  return dst;
}

/** dst[c, r] = src[r, c] for a (rows, cols) matrix, in 64×64 blocks (cache-friendly). */
function transpose2d(src: Float32Array | Int32Array, rows: number, cols: number, dst: Float32Array | Int32Array): void {
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const row = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[row + c];
      }
    }
  }
}

/** Convert a tensor in a parameter's internal layout (a value or a gradient) to PyTorch layout. */
export function fromInternal(t: tf.Tensor, layout: Layout): tf.Tensor {
  if (layout === "conv2d-hwio") return tf.transpose(t, [3, 2, 0, 1]);
  if (layout === "linear-io") return tf.transpose(t);
  return t.clone();
}

export interface StateDictProblems {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: readonly number[]; found: readonly number[] }[];
}

export class StateDictError extends Error {
  override name = "StateDictError";
  constructor(
    readonly problems: StateDictProblems,
    what: string,
  ) {
    const lines = [`cannot load ${what}:`];
    const list = (title: string, xs: string[]) => {
      if (!xs.length) return;
      lines.push(`  ${title} (${xs.length}): ${xs.slice(0, 20).join(", ")}${xs.length > 20 ? `, ... and ${xs.length - 20} more` : ""}`);
    };
    list("missing keys", problems.missing);
    list("unexpected keys", problems.unexpected);
    list(
      "shape mismatches",
      problems.mismatched.map((m) => `${m.key} expected [${m.expected}] found [${m.found}]`),
    );
    super(lines.join("\n"));
  }
}

export interface LoadOptions {
  /** Fail on missing or unexpected keys (shape mismatches always fail). Default true. */
  strict?: boolean;
  /** Only load keys that start with this prefix, with the prefix removed. */
  prefix?: string;
  /** Called after each tensor. */
  onProgress?: (p: { loaded: number; total: number; key: string }) => void;
  /**
   * Pack the weights for inference as they load (`Module.packForInference`):
   * on wasm, one copy of each weight instead of two. Default false.
   */
  pack?: boolean;
}

export type StateDictSource = TensorStore | Map<string, HostTensor>;

export class Module {
  private readonly _params = new Map<string, Parameter>();
  private readonly _children = new Map<string, Module>();

  /** Declare a learnable parameter with its PyTorch shape. */
  protected param(name: string, shape: number[], layout: Layout = "torch"): Parameter {
    const p = new Parameter(name, shape, { layout, trainable: true, dtype: "float32" });
    this._params.set(name, p);
    return p;
  }
  /** Declare a persistent buffer (in the state dict, not trained). */
  protected buffer(name: string, shape: number[], dtype: "float32" | "int32" = "float32"): Parameter {
    const p = new Parameter(name, shape, { layout: "torch", trainable: false, dtype });
    this._params.set(name, p);
    return p;
  }
  /** Register a child module under an attribute name. */
  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** All parameters and buffers with their full state-dict names, in registration order. */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this._params) {
      p.name = prefix + n;
      out.push([p.name, p]);
    }
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  /** Trainable parameters only. */
  trainableParameters(): Parameter[] {
    return this.namedParameters()
      .map(([, p]) => p)
      .filter((p) => p.opts.trainable);
  }
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ""), this]];
    for (const [n, c] of this._children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }
  /** State-dict keys and PyTorch shapes, without touching values. */
  stateDictShapes(): Record<string, number[]> {
    return Object.fromEntries(this.namedParameters().map(([n, p]) => [n, [...p.shape]]));
  }
  /** Number of learnable elements (as `sum(p.numel() for p in parameters())`). */
  numParameters(): number {
    return this.trainableParameters().reduce((s, p) => s + numel(p.shape), 0);
  }

  /** Compare this module's keys and shapes with a checkpoint's. */
  checkStateDict(keys: Map<string, readonly number[]>): StateDictProblems {
    const mine = new Map(this.namedParameters());
    const missing = [...mine.keys()].filter((k) => !keys.has(k));
    const unexpected = [...keys.keys()].filter((k) => !mine.has(k));
    const mismatched = [...mine]
      .filter(([k, p]) => keys.has(k) && !tf.util.arraysEqual([...keys.get(k)!], [...p.shape]))
      .map(([k, p]) => ({ key: k, expected: p.shape, found: keys.get(k)! }));
    return { missing, unexpected, mismatched };
  }

  /**
   * Load parameters by name from a checkpoint (read lazily, one tensor at a
   * time) or from host tensors. All problems are reported in one error.
   */
  async loadStateDict(source: StateDictSource, opts: LoadOptions = {}): Promise<StateDictProblems> {
    const strict = opts.strict ?? true;
    const prefix = opts.prefix ?? "";
    const isStore = !(source instanceof Map);
    const names = (isStore ? (source as TensorStore).keys() : [...(source as Map<string, HostTensor>).keys()]).filter((k) =>
      k.startsWith(prefix),
    );
    const shapeOf = (k: string) =>
      isStore ? (source as TensorStore).info(k).shape : (source as Map<string, HostTensor>).get(k)!.shape;
    const keys = new Map(names.map((k) => [k.slice(prefix.length), shapeOf(k)] as [string, readonly number[]]));
    const problems = this.checkStateDict(keys);
    if (opts.pack) this.packForInference();
    const where = isStore ? `checkpoint ${(source as TensorStore).name}` : "state dict";
    if (problems.mismatched.length || (strict && (problems.missing.length || problems.unexpected.length))) {
      throw new StateDictError(problems, `${where} into ${this.constructor.name}`);
    }
    const params = this.namedParameters().filter(([k]) => keys.has(k));
    let loaded = 0;
    for (const [k, p] of params) {
      const host = isStore ? await (source as TensorStore).read(prefix + k) : (source as Map<string, HostTensor>).get(prefix + k)!;
      p.setTorchHost(p.opts.dtype === "int32" ? toInt32(host) : toFloat32(host));
      opts.onProgress?.({ loaded: ++loaded, total: params.length, key: k });
    }
    flushWeightStaging();
    return problems;
  }

  /** Every parameter and buffer in PyTorch layout as host tensors. */
  async stateDict(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [k, p] of this.namedParameters()) {
      const t = p.toTorch();
      const data = (await t.data()) as Float32Array | Int32Array;
      t.dispose();
      out.set(k, { dtype: p.opts.dtype, shape: [...p.shape], data });
    }
    return out;
  }

  /** Set every parameter from a function of (name, PyTorch shape) returning a PyTorch-layout tensor. */
  initParameters(fn: (name: string, p: Parameter) => tf.Tensor): void {
    for (const [k, p] of this.namedParameters()) p.setTorch(fn(k, p));
  }

  /**
   * Inference only, from now on: let the backend keep each `Linear` and
   * `Conv2d` weight in the packed form its product kernel uses and free the
   * unpacked copy, now for the weights already set and later for each
   * weight as it is loaded or initialised (pack before loading: the freed
   * memory is then reused by the next weight). On wasm this halves the
   * memory of the weights; where the backend registers no weight packing
   * (cpu, webgpu) it changes nothing. Packed weights cannot be read
   * (`stateDict`, `toTorch`) or trained: `PackedWeightError`.
   */
  packForInference(): this {
    for (const [, m] of this.namedModules()) m.enablePacking();
    flushWeightStaging();
    return this;
  }
  /** How many weights the backend holds only in packed form. */
  packedWeights(): number {
    return this.namedParameters().filter(([, p]) => p.isPacked).length;
  }
  /** Layers with a packable weight override this (see `packForInference`). */
  protected enablePacking(): void {}

  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
  }
}

/** An indexed list of children: names `0`, `1`, … as in `nn.ModuleList`. */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    for (let i = 0; i < items.length; i++) this.child(String(i), items[i]);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i];
  }
}
