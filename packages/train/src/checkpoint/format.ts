/**
 * The training checkpoint format: one safetensors file.
 *
 * Tensors: the model's state dict under its exact official names
 * (`pos_start`, `blocks.0.attn.mat_qkv.weight` …, PyTorch layout and shapes,
 * so the file's tensors but the `optimizer.*` ones are a state dict the
 * official `VAR.load_state_dict(strict=True)` takes as it is),
 * then the optimizer's arrays under `optimizer.` + a path (for AdamW:
 * `optimizer.params.<name>.expAvg`, shaped like the parameter).
 *
 * `__metadata__` (strings, as the format requires):
 *   format      "nextscale-train-checkpoint"     version "1"
 *   step        the training step (decimal)
 *   model       JSON {class, keys, parameters}: what the file was made from
 *   config      JSON, the run's configuration (as given)
 *   metrics     JSON (as given)
 *   rng         JSON: a `RandomState`, or an object of named `RandomState`s
 *   optimizer   JSON: the optimizer's `state()` with every typed array replaced
 *               by {"$tensor": name} (the tensor's name in this file)
 *   created     ISO time of writing
 *
 * Pure functions over bytes and `TensorStore`s; the file functions
 * (atomic save, latest) are in `files.ts`.
 */
import {
  DTYPE_SIZE,
  type HostTensor,
  type Module,
  numel,
  Random,
  type RandomState,
  StateDictError,
  type StateDictProblems,
  type TensorStore,
  writeSafetensors,
} from "@nextscale/core";

export const CHECKPOINT_FORMAT = "nextscale-train-checkpoint";
export const CHECKPOINT_VERSION = "1";
/** Tensors of the optimizer's state are named with this prefix. */
export const OPTIMIZER_PREFIX = "optimizer.";

/** JSON-compatible values (config, metrics). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What a checkpoint can hold of an optimizer: plain data whose arrays are typed arrays (AdamW's `state()`). */
export interface CheckpointableOptimizer<S = unknown> {
  state(): S | Promise<S>;
  loadState(state: S): void;
}

/** The RNG: one generator, or several by name (data order, dropout …). */
export type RngInput = Random | Record<string, Random>;
export type RngState = RandomState | Record<string, RandomState>;

export interface CheckpointInput {
  model: Module;
  optimizer?: CheckpointableOptimizer;
  /** Training steps taken (a non-negative integer). */
  step: number;
  rng?: RngInput;
  config?: Json;
  metrics?: Json;
}

/** A checkpoint as read, not yet applied. */
export interface CheckpointContents {
  step: number;
  config: Json | undefined;
  metrics: Json | undefined;
  rng: RngState | undefined;
  /** The optimizer's state as its `state()` returned it (arrays are Float32Array etc. again), or undefined. */
  optimizer: unknown;
  /** What the file says it was made from. */
  model: { class: string; keys: number; parameters: number } | undefined;
  created: string | undefined;
  /** The model's tensors (official names) and the optimizer's. */
  store: TensorStore;
}

export class CheckpointMismatchError extends Error {
  override name = "CheckpointMismatchError";
}

type Typed = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | BigInt64Array;
const isTyped = (v: unknown): v is Typed => ArrayBuffer.isView(v) && !(v instanceof DataView);

function dtypeOf(a: Typed): HostTensor["dtype"] {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Uint16Array) return "float16"; // core's convention: raw half floats
  return "uint8";
}

function arrayOf(t: HostTensor): Typed {
  // A copy: the store's bytes may be a view of a larger read buffer.
  return (t.data as Typed).slice() as Typed;
}

/**
 * The optimizer state with its typed arrays taken out as tensors. An array
 * whose object has a `shape` (number[]) of the same size gets that shape
 * (AdamW's moments are shaped like their parameter); others are 1-D.
 */
function splitOptimizerState(state: unknown): { json: Json; tensors: [string, HostTensor][] } {
  const tensors: [string, HostTensor][] = [];
  const walk = (v: unknown, path: string, depth: number): Json => {
    if (depth > 32) throw new Error(`saveCheckpoint: the optimizer state is nested more than 32 deep at ${path}`);
    if (isTyped(v)) {
      const name = OPTIMIZER_PREFIX + path;
      tensors.push([name, { dtype: dtypeOf(v), shape: [v.length], data: v }]);
      return { $tensor: name };
    }
    if (v === null || typeof v === "boolean" || typeof v === "string") return v;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return { $number: String(v) };
      return v;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}.${i}`, depth + 1));
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      const out: Record<string, Json> = {};
      const shape = Array.isArray(o.shape) && o.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? (o.shape as number[]) : undefined;
      for (const [k, x] of Object.entries(o)) {
        if (k.startsWith("$")) throw new Error(`saveCheckpoint: optimizer state key "${k}" at ${path} starts with "$" (reserved)`);
        const before = tensors.length;
        out[k] = walk(x, path ? `${path}.${k}` : k, depth + 1);
        if (shape && isTyped(x) && tensors.length === before + 1 && numel(shape) === x.length) tensors[before][1].shape = [...shape];
      }
      return out;
    }
    throw new Error(`saveCheckpoint: the optimizer state holds a ${typeof v} at ${path || "its root"} (plain data and typed arrays only)`);
  };
  return { json: walk(state, "", 0), tensors };
}

async function joinOptimizerState(json: unknown, store: TensorStore): Promise<unknown> {
  const walk = async (v: unknown): Promise<unknown> => {
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (v && typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (typeof o.$tensor === "string" && Object.keys(o).length === 1) {
        if (!store.has(o.$tensor)) throw new CheckpointMismatchError(`${store.name}: the optimizer state names tensor "${o.$tensor}", which the file lacks (corrupt)`);
        return arrayOf(await store.read(o.$tensor));
      }
      if (typeof o.$number === "string" && Object.keys(o).length === 1) return Number(o.$number);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) out[k] = await walk(x);
      return out;
    }
    return v;
  };
  return walk(json);
}

function rngState(rng: RngInput | undefined): RngState | undefined {
  if (!rng) return undefined;
  if (rng instanceof Random) return rng.getState();
  return Object.fromEntries(Object.entries(rng).map(([k, r]) => [k, r.getState()]));
}

/** Restore generators from a checkpoint's `rng` (one, or several by name). */
export function restoreRng(state: RngState): Random | Record<string, Random> {
  if (Array.isArray((state as RandomState).words)) return Random.fromState(state as RandomState);
  return Object.fromEntries(Object.entries(state as Record<string, RandomState>).map(([k, s]) => [k, Random.fromState(s)]));
}

/** A training state ready to serialise: the tensors in file order and the metadata strings. */
export interface PreparedCheckpoint {
  tensors: [string, HostTensor][];
  metadata: Record<string, string>;
}

/** Collect what a checkpoint holds (the model's state dict on the host, the optimizer's state, the metadata). */
export async function prepareCheckpoint(input: CheckpointInput): Promise<PreparedCheckpoint> {
  const { model, optimizer, step } = input;
  if (!(Number.isSafeInteger(step) && step >= 0)) throw new RangeError(`saveCheckpoint: step must be a non-negative integer (got ${step})`);
  const sd = await model.stateDict();
  const tensors: [string, HostTensor][] = [...sd];
  const meta: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step: String(step),
    model: JSON.stringify({ class: model.constructor.name, keys: sd.size, parameters: model.numParameters() }),
    created: new Date().toISOString(),
  };
  if (input.config !== undefined) meta.config = JSON.stringify(input.config);
  if (input.metrics !== undefined) meta.metrics = JSON.stringify(input.metrics);
  const rng = rngState(input.rng);
  if (rng) meta.rng = JSON.stringify(rng);
  if (optimizer) {
    const { json, tensors: opt } = splitOptimizerState(await optimizer.state());
    for (const [k] of opt) if (sd.has(k)) throw new Error(`saveCheckpoint: the model has a tensor named "${k}", which the optimizer's state also uses`);
    tensors.push(...opt);
    meta.optimizer = JSON.stringify(json);
  }
  return { tensors, metadata: meta };
}

const ST_DTYPE: Record<HostTensor["dtype"], string> = {
  float64: "F64",
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int64: "I64",
  int32: "I32",
  int16: "I16",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};

/**
 * The safetensors file of a prepared checkpoint as parts (the 8-byte length
 * and header, then each tensor's bytes), so a writer can stream it without
 * one buffer of the whole file (a d16 run with its AdamW moments is 3.7 GB).
 * Concatenated, the parts equal `writeSafetensors(tensors, metadata)`.
 */
export function checkpointParts(p: PreparedCheckpoint): Uint8Array[] {
  const header: Record<string, unknown> = Object.create(null);
  header.__metadata__ = p.metadata;
  let off = 0;
  const parts: Uint8Array[] = [new Uint8Array(0)];
  for (const [k, t] of p.tensors) {
    if (Object.hasOwn(header, k)) throw new Error(`saveCheckpoint: tensor "${k}" is given twice`);
    const len = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== len) throw new Error(`saveCheckpoint: tensor "${k}": ${t.data.byteLength} bytes for shape [${t.shape}] of ${t.dtype}`);
    header[k] = { dtype: ST_DTYPE[t.dtype], shape: t.shape, data_offsets: [off, off + len] };
    off += len;
    parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let h = enc.encode(json);
  if (h.byteLength % 8) {
    json += " ".repeat(8 - (h.byteLength % 8));
    h = enc.encode(json);
  }
  const head = new Uint8Array(8 + h.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  head.set(h, 8);
  parts[0] = head;
  return parts;
}

/** Serialise a training state to safetensors bytes in one buffer (see the file comment for the layout; `saveCheckpoint` streams instead). */
export async function encodeCheckpoint(input: CheckpointInput): Promise<Uint8Array> {
  const p = await prepareCheckpoint(input);
  return writeSafetensors(p.tensors, p.metadata);
}

function parseJson(store: TensorStore, key: string): Json | undefined {
  const raw = store.metadata[key];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(String(raw)) as Json;
  } catch {
    throw new CheckpointMismatchError(`${store.name}: metadata "${key}" is not valid JSON (corrupt)`);
  }
}

/** Check that an open store is a nextscale training checkpoint this reader knows (its header only); returns the step. */
export function checkCheckpointHeader(store: TensorStore): number {
  const m = store.metadata;
  if (store.format !== "safetensors" || m.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointMismatchError(
      `${store.name} is not a nextscale training checkpoint (a ${store.format} file${m.format ? ` of format "${String(m.format)}"` : " without the format metadata"}); official trainer checkpoints (ar-ckpt-*.pth) are read by readOfficialTrainerCheckpoint`,
    );
  }
  if (m.version !== CHECKPOINT_VERSION) throw new CheckpointMismatchError(`${store.name}: checkpoint format version ${String(m.version)}; this reader knows version ${CHECKPOINT_VERSION}`);
  const step = Number(m.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointMismatchError(`${store.name}: malformed step ${String(m.step)}`);
  return step;
}

/** Read a checkpoint's metadata and optimizer state from an open store (tensors stay lazy). */
export async function decodeCheckpoint(store: TensorStore): Promise<CheckpointContents> {
  const m = store.metadata;
  const step = checkCheckpointHeader(store);
  const optJson = parseJson(store, "optimizer");
  return {
    step,
    config: parseJson(store, "config"),
    metrics: parseJson(store, "metrics"),
    rng: parseJson(store, "rng") as RngState | undefined,
    optimizer: optJson === undefined ? undefined : await joinOptimizerState(optJson, store),
    model: parseJson(store, "model") as CheckpointContents["model"],
    created: m.created === undefined ? undefined : String(m.created),
    store,
  };
}

/** The model's keys in a checkpoint store (everything but the optimizer's tensors). */
export function modelKeys(store: TensorStore): string[] {
  return store.keys().filter((k) => !k.startsWith(OPTIMIZER_PREFIX));
}

/** Keys and shapes of the checkpoint against the model: every difference, or null when they agree. */
export function compareModel(model: Module, store: TensorStore): StateDictProblems | null {
  const problems = model.checkStateDict(new Map(modelKeys(store).map((k) => [k, store.info(k).shape])));
  return problems.missing.length || problems.unexpected.length || problems.mismatched.length ? problems : null;
}

/** Paths where two JSON values differ ("a.b: 1 (checkpoint) vs 2 (run)"), at most `max`. */
export function jsonDifferences(saved: Json | undefined, current: Json | undefined, max = 20): string[] {
  const out: string[] = [];
  const show = (v: unknown) => (v === undefined ? "absent" : JSON.stringify(v).slice(0, 80));
  const walk = (a: unknown, b: unknown, path: string) => {
    if (out.length >= max) return;
    const obj = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
    if (obj(a) && obj(b)) {
      const ka = Object.keys(a as object);
      const kb = Object.keys(b as object);
      for (const k of [...ka, ...kb.filter((k) => !ka.includes(k))]) walk((a as never)[k], (b as never)[k], path ? `${path}.${k}` : k);
      return;
    }
    if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      for (let i = 0; i < a.length; i++) walk(a[i], b[i], `${path}[${i}]`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || "(root)"}: ${show(a)} in the checkpoint, ${show(b)} in this run`);
  };
  walk(saved, current, "");
  return out;
}

export interface ApplyOptions {
  /** Also the optimizer's state (when the file has one). */
  optimizer?: CheckpointableOptimizer;
  /**
   * The current run's config: when given, the checkpoint's must equal it
   * (else a `CheckpointMismatchError` naming every differing key), unless
   * `allowConfigChange`.
   */
  config?: Json;
  allowConfigChange?: boolean;
}

/**
 * Apply decoded contents: check the config, then the model's keys and
 * shapes (a `StateDictError` naming every missing, unexpected and mismatched
 * key, with "checkpoint of another model or config" in its message), then
 * load the weights and the optimizer's state.
 */
export async function applyCheckpoint(model: Module, c: CheckpointContents, opts: ApplyOptions = {}): Promise<void> {
  const { store } = c;
  if (opts.config !== undefined && !opts.allowConfigChange) {
    const diff = jsonDifferences(c.config, opts.config);
    if (diff.length) {
      throw new CheckpointMismatchError(
        `${store.name} was saved by a run with another config (${diff.length}${diff.length === 20 ? "+" : ""} difference(s)):\n  ${diff.join("\n  ")}\n(pass allowConfigChange to load it anyway)`,
      );
    }
  }
  const problems = compareModel(model, store);
  if (problems) {
    const e = new StateDictError(problems, `checkpoint ${store.name} into ${model.constructor.name}`);
    e.message = `${e.message}\n(a checkpoint of another model or config${c.model ? `: it was saved from a ${c.model.class} with ${c.model.keys} tensors and ${c.model.parameters} parameters` : ""})`;
    throw e;
  }
  await model.loadStateDict(viewOf(store, modelKeys(store)));
  if (opts.optimizer) {
    if (c.optimizer === undefined) throw new CheckpointMismatchError(`${store.name} holds no optimizer state (saved without an optimizer)`);
    opts.optimizer.loadState(c.optimizer);
  }
}

/** A store that shows only `keys` of another (no copy). */
export function viewOf(store: TensorStore, keys: string[], rename: (k: string) => string = (k) => k): TensorStore {
  const map = new Map(keys.map((k) => [rename(k), k]));
  const inner = (k: string) => {
    const v = map.get(k);
    if (v === undefined) throw new Error(`${store.name}: no tensor named "${k}"`);
    return v;
  };
  return {
    format: store.format,
    name: store.name,
    metadata: store.metadata,
    keys: () => [...map.keys()],
    has: (k) => map.has(k),
    info: (k) => ({ ...store.info(inner(k)), name: k }),
    read: (k) => store.read(inner(k)),
    close: () => store.close(),
  };
}
