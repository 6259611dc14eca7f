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

/**
 * How a parameter is stored internally relative to PyTorch's layout:
 * `conv2d-hwio` for tfjs' NHWC convolutions, `linear-io` (the transpose of
 * PyTorch's (out, in)) because x·W runs about 10× faster than x·Wᵀ on the
 * wasm backend (measured: 27 vs 2.3 GFLOP/s for a 512×1024·1024×4096 product).
 */
export type Layout = "torch" | "conv2d-hwio" | "linear-io";

export class Parameter {
  private v: tf.Variable | null = null;
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
  /** The value in internal layout; throws if never loaded or initialised. */
  get value(): tf.Variable {
    if (!this.v) {
      throw new Error(`parameter "${this.name}" has no value: load a checkpoint or initialise the weights first`);
    }
    return this.v;
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
  }
  /**
   * Set from host values in PyTorch layout (a checkpoint's, or drawn on the
   * host): rearranged to the internal layout on the host and uploaded once,
   * so loading leaves no freed copies behind. With `create`, the tensor is
   * made by it from the values in internal layout (a backend's staging
   * memory: see `packWhileLoading`).
   */
  setTorchHost(values: Float32Array | Int32Array, create?: (shape: number[], fill: (dst: Float32Array) => void) => tf.Tensor): void {
    const shape = this.internalShape;
    if (values.length !== numel(this.shape)) {
      throw new Error(`parameter "${this.name}": ${values.length} values for shape [${this.shape}]`);
    }
    if (create && values instanceof Float32Array) {
      this.setInternal(create(shape, (dst) => toInternalLayout(values, this.shape, this.opts.layout, dst)));
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
   * How each loaded value becomes its parameter's value; default
   * `Parameter.setTorchHost`. `packWhileLoading(model)` packs each weight for
   * inference as it arrives.
   */
  transform?: LoadTransform;
}

/** Sets parameters from loaded host values (see `LoadOptions.transform`). */
export interface LoadTransform {
  /** Set `p` from host values in PyTorch layout. */
  set(p: Parameter, values: Float32Array | Int32Array): void;
  /** Called once when the load ends, whether or not it succeeded. */
  done?(): void;
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
    const where = isStore ? `checkpoint ${(source as TensorStore).name}` : "state dict";
    if (problems.mismatched.length || (strict && (problems.missing.length || problems.unexpected.length))) {
      throw new StateDictError(problems, `${where} into ${this.constructor.name}`);
    }
    const params = this.namedParameters().filter(([k]) => keys.has(k));
    const set = opts.transform ? opts.transform.set.bind(opts.transform) : (p: Parameter, v: Float32Array | Int32Array) => p.setTorchHost(v);
    let loaded = 0;
    try {
      for (const [k, p] of params) {
        const host = isStore ? await (source as TensorStore).read(prefix + k) : (source as Map<string, HostTensor>).get(prefix + k)!;
        set(p, p.opts.dtype === "int32" ? toInt32(host) : toFloat32(host));
        opts.onProgress?.({ loaded: ++loaded, total: params.length, key: k });
      }
    } finally {
      opts.transform?.done?.();
    }
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
