/**
 * Interop with the official PyTorch trainer (FoundationVision/VAR
 * `train.py`, `trainer.py`).
 *
 * Reading `ar-ckpt-*.pth`: train.py saves
 * `torch.save({'epoch', 'iter', 'trainer': trainer.state_dict(), 'args': args.state_dict()})`,
 * where `trainer.state_dict()` is `{'config': {patch_nums, resos, label_smooth, prog_it, …},
 * 'var_wo_ddp': VAR state dict, 'vae_local': VQVAE state dict, 'var_opt': {'optimizer':
 * torch AdamW state_dict (, 'scaler': GradScaler state in fp16)}}` and `args` an
 * OrderedDict of plain values (the `Args` fields but `device`). The file is
 * read by core's pickle reader, which runs no code: it rebuilds tensors and
 * Python containers and refuses any other global (a numpy scalar, a class):
 * such a file is an error naming the global (see `OfficialCheckpointError`).
 *
 * The optimizer state dict indexes parameters by position: torch numbers
 * them through the param groups in order (group 0's params, then group
 * 1's …), and the official groups come from `utils/lr_control.py`
 * `filter_params` over `var_wo_ddp.named_parameters()` ("ND": 1-D, `*bias`
 * or a no-decay key; "D" the rest; groups in order of first appearance).
 * `officialOptimizerState` rebuilds that numbering from the model with
 * `paramGroups` and checks it against the file's groups (sizes, wd_sc,
 * every moment's shape) before naming anything.
 *
 * Writing: `writeOfficialTrainerCheckpoint` makes an `ar-ckpt-*.pth` the
 * official train.py resumes from (its auto_resume, then
 * `trainer.load_state_dict(…, strict=False, skip_vae=True)`, which loads the
 * VAR and `optimizer.load_state_dict`), and `writeOfficialVarPth` a `.pth` that
 * `torch.load(path, weights_only=True)` reads and the official
 * `VAR.load_state_dict(strict=True)` accepts: the model's state dict under
 * the official keys, in the official order, float32 parameters and buffers,
 * `lvl_1L` as int64 as torch keeps it.
 */
import {
  type ByteSource,
  CheckpointFormatError,
  type HostTensor,
  type Module,
  openCheckpoint,
  type OpenOptions,
  openSource,
  PyDict,
  PyFloat,
  type PthValue,
  PyTuple,
  type SourceInput,
  type TensorStore,
  toFloat32,
  unpickle,
  writePth,
  ZipReader,
} from "@nextscale/core";
import { type VarConfig, VarTransformer } from "@nextscale/transformer";
import type { AdamWState } from "../optim/adamw.js";
import { OFFICIAL_NO_WEIGHT_DECAY_KEYS, paramGroups } from "../optim/param-groups.js";
import { viewOf } from "./format.js";

export class OfficialCheckpointError extends Error {
  override name = "OfficialCheckpointError";
}

/** One param group of torch's optimizer state dict (AdamW's hyper-parameters, the official wd_sc / lr_sc, the param indices). */
export interface OfficialParamGroup {
  params: number[];
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  wd_sc?: number;
  lr_sc?: number;
  [key: string]: unknown;
}

export interface OfficialTrainerCheckpoint {
  /** The whole file (keys `trainer.var_wo_ddp.*`, `trainer.var_opt.optimizer.state.<i>.exp_avg` …). */
  store: TensorStore;
  epoch: number | undefined;
  iter: number | undefined;
  /** `args.state_dict()`: the run's `Args` fields. */
  args: Record<string, unknown>;
  /** `trainer.get_config()`: patch_nums, resos, label_smooth, prog_it, last_prog_si, first_prog. */
  trainerConfig: Record<string, unknown>;
  /** The VAR state dict (`var_wo_ddp`) under its own keys. */
  var: TensorStore;
  /** The VQ-VAE state dict (`vae_local`), when saved. */
  vae: TensorStore | undefined;
  /** torch's optimizer state dict: its param groups and, per param index, which tensors it has. */
  optimizer: { paramGroups: OfficialParamGroup[]; prefix: string; indices: number[] } | undefined;
  /** The GradScaler state (fp16 runs), as saved. */
  scaler: Record<string, unknown> | undefined;
  close(): Promise<void>;
}

/** A tensor in the pickle tree (its bytes are read through the store, by name). */
class TensorStub {}
const stub = new TensorStub();

/**
 * The globals the tree walk rebuilds: containers, and tensors as stubs. The
 * same list core's .pth reader accepts; anything else is refused, never
 * looked up or run.
 */
const TREE_GLOBALS = new Map<string, (args: unknown[]) => unknown>([
  ["collections.OrderedDict", () => new PyDict()],
  ["builtins.dict", () => new PyDict()],
  ["builtins.list", (a) => (Array.isArray(a[0]) ? [...a[0]] : [])],
  ["builtins.tuple", (a) => Object.assign(new PyTuple(), Array.isArray(a[0]) ? a[0] : [])],
  ["builtins.set", (a) => new Set(Array.isArray(a[0]) ? a[0] : [])],
  ["builtins.frozenset", (a) => new Set(Array.isArray(a[0]) ? a[0] : [])],
  ["_codecs.encode", () => new Uint8Array(0)],
  ["torch._utils._rebuild_tensor", () => stub],
  ["torch._utils._rebuild_tensor_v2", () => stub],
  ["torch._utils._rebuild_parameter", () => stub],
  ["torch._utils._rebuild_parameter_with_state", () => stub],
  ["torch._tensor._rebuild_from_type_v2", () => stub],
  ["torch.nn.parameter.Parameter", () => stub],
  ["torch.Tensor", () => stub],
]);
const STORAGES = /^torch\.(Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool)Storage$/;

/** The non-tensor values of a torch zip checkpoint's pickle, as a tree (tensors are stubs). */
async function pickleTree(source: ByteSource): Promise<unknown> {
  const zip = await ZipReader.open(source);
  const pkl = [...zip.entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k) || k === "data.pkl");
  if (!pkl) throw new CheckpointFormatError(`${source.name}: zip archive without data.pkl: not a PyTorch checkpoint`);
  return unpickle(await zip.read(zip.entries.get(pkl)!), {
    name: `${source.name} (${pkl})`,
    findClass(module, name) {
      const q = `${module}.${name}`;
      const f = TREE_GLOBALS.get(q);
      if (f) return { qualname: q, call: f };
      if (STORAGES.test(q)) return { qualname: q, call: () => stub };
      return undefined;
    },
    persistentLoad: () => stub,
  });
}

/** Plain JS from a pickled value: dicts to objects (null prototype), tuples to arrays, tensors left out. */
function plain(v: unknown, depth = 0): unknown {
  if (depth > 64) return undefined;
  if (v instanceof Map) {
    const o: Record<string, unknown> = Object.create(null);
    for (const [k, x] of v) if (!(x instanceof TensorStub)) o[String(k)] = plain(x, depth + 1);
    return o;
  }
  if (Array.isArray(v)) return [...v].map((x) => plain(x, depth + 1));
  if (v instanceof Set) return [...v].map((x) => plain(x, depth + 1));
  if (v instanceof TensorStub) return undefined;
  return v;
}

const child = (v: unknown, ...path: string[]): unknown => {
  let x = v;
  for (const k of path) x = x instanceof Map ? x.get(k) : undefined;
  return x;
};

/**
 * Open an official trainer checkpoint (`ar-ckpt-last.pth`, `ar-ckpt-best.pth`).
 * Tensors stay in the file until read. A pickle naming a global the safe
 * reader does not rebuild is an `OfficialCheckpointError` naming it.
 */
export async function readOfficialTrainerCheckpoint(input: SourceInput, opts: OpenOptions = {}): Promise<OfficialTrainerCheckpoint> {
  const source = await openSource(input, opts);
  let tree: unknown;
  let store: TensorStore;
  try {
    tree = await pickleTree(source);
    store = await openCheckpoint(source);
  } catch (e) {
    await source.close();
    const m = e instanceof CheckpointFormatError ? /refusing to load global "?([^"\s:]+)"?/.exec(e.message) : null;
    if (m) {
      throw new OfficialCheckpointError(
        `${source.name}: its pickle names the Python global ${m[1]}, which nextscale does not rebuild: checkpoints are read without running any code from them, so only tensors and plain containers load. In an official ar-ckpt this is usually a value in 'args' that is not a plain int/float/str (a numpy scalar, a torch.device), or the Args object itself saved instead of args.state_dict(). Re-save it with plain values, e.g. in Python: ckpt = torch.load(p); ckpt['args'] = {k: (v.item() if hasattr(v, 'item') else v) for k, v in ckpt['args'].items()}; torch.save(ckpt, p)\n(${(e as Error).message})`,
      );
    }
    throw e;
  }
  const keys = store.keys();
  const varKeys = keys.filter((k) => k.startsWith("trainer.var_wo_ddp."));
  if (!varKeys.length || !(tree instanceof Map)) {
    await store.close();
    throw new OfficialCheckpointError(
      `${store.name} is not an official trainer checkpoint: it has no trainer.var_wo_ddp.* tensors (found ${keys.slice(0, 4).join(", ") || "no tensors"}${keys.length > 4 ? " …" : ""}); a plain VAR state dict (var_d16.pth) loads with VarTransformer.fromCheckpoint`,
    );
  }
  const strip = (p: string) => (k: string) => k.slice(p.length);
  const vaeKeys = keys.filter((k) => k.startsWith("trainer.vae_local."));
  const varOpt = child(tree, "trainer", "var_opt");
  const optKey = ["optimizer", "optim"].find((k) => child(varOpt, k, "param_groups") !== undefined);
  let optimizer: OfficialTrainerCheckpoint["optimizer"];
  if (optKey) {
    const groups = plain(child(varOpt, optKey, "param_groups"));
    if (!Array.isArray(groups) || !groups.every((g) => g && typeof g === "object" && Array.isArray((g as OfficialParamGroup).params))) {
      await store.close();
      throw new OfficialCheckpointError(`${store.name}: trainer.var_opt.${optKey}.param_groups is not a list of groups with params`);
    }
    const optPrefix = `trainer.var_opt.${optKey}.`;
    const indices = new Set<number>();
    const re = new RegExp(`^${optPrefix.replaceAll(".", "\\.")}state\\.(\\d+)\\.`);
    for (const k of keys) {
      const m = re.exec(k);
      if (m) indices.add(Number(m[1]));
    }
    optimizer = { paramGroups: groups as OfficialParamGroup[], prefix: `${optPrefix}state.`, indices: [...indices].sort((a, b) => a - b) };
  }
  const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined);
  const obj = (v: unknown) => (v instanceof Map ? (plain(v) as Record<string, unknown>) : undefined);
  return {
    store,
    epoch: num(child(tree, "epoch")),
    iter: num(child(tree, "iter")),
    args: obj(child(tree, "args")) ?? {},
    trainerConfig: obj(child(tree, "trainer", "config")) ?? {},
    var: viewOf(store, varKeys, strip("trainer.var_wo_ddp.")),
    vae: vaeKeys.length ? viewOf(store, vaeKeys, strip("trainer.vae_local.")) : undefined,
    optimizer,
    scaler: obj(child(varOpt, "scaler")),
    close: () => store.close(),
  };
}

export interface OfficialStateOptions {
  /** The no-decay keys of the run (default: the official train.py's). */
  noWeightDecayKeys?: readonly string[];
}

/**
 * The AdamW state of an official checkpoint, by parameter name, for `model`
 * (which must be the checkpoint's VAR: same trainable parameters, same
 * shapes): ready for `AdamW.loadState` on an optimizer over
 * `paramGroups(model)`. Every disagreement (group count, group sizes, wd_sc,
 * moment shapes) is named in one `OfficialCheckpointError`.
 */
export async function officialOptimizerState(ckpt: OfficialTrainerCheckpoint, model: Module, opts: OfficialStateOptions = {}): Promise<AdamWState> {
  const name = ckpt.store.name;
  if (!ckpt.optimizer) throw new OfficialCheckpointError(`${name} holds no optimizer state (trainer.var_opt.optimizer)`);
  const groups = paramGroups(model, { noWeightDecayKeys: opts.noWeightDecayKeys ?? OFFICIAL_NO_WEIGHT_DECAY_KEYS });
  const saved = ckpt.optimizer.paramGroups;
  const problems: string[] = [];
  if (saved.length !== groups.length) {
    problems.push(`the checkpoint has ${saved.length} param group(s), the model's official grouping ${groups.length} (${groups.map((g) => `${g.name}: ${g.params.length}`).join(", ")})`);
  }
  const byIndex = new Map<number, { name: string; shape: readonly number[] }>();
  groups.forEach((g, i) => {
    const s = saved[i];
    if (!s) return;
    if (s.params.length !== g.params.length) {
      problems.push(`group ${i} ("${g.name}"): ${s.params.length} parameters in the checkpoint, ${g.params.length} in the model (${g.params.slice(0, 3).map(([n]) => n).join(", ")} …)`);
    }
    if (s.wd_sc !== undefined && s.wd_sc !== g.wdScale) problems.push(`group ${i} ("${g.name}"): wd_sc ${s.wd_sc} in the checkpoint, ${g.wdScale} for the model's group`);
    s.params.forEach((idx, j) => {
      if (j < g.params.length) byIndex.set(Number(idx), { name: g.params[j][0], shape: g.params[j][1].shape });
    });
  });
  const st = ckpt.store;
  const pre = ckpt.optimizer.prefix;
  const params: AdamWState["params"] = {};
  const orphans: number[] = [];
  for (const idx of ckpt.optimizer.indices) {
    const p = byIndex.get(idx);
    if (!p) {
      orphans.push(idx);
      continue;
    }
    const missing = ["exp_avg", "exp_avg_sq"].filter((k) => !st.has(`${pre}${idx}.${k}`));
    if (missing.length) {
      problems.push(`state ${idx} ("${p.name}") lacks ${missing.join(", ")} (not an Adam state)`);
      continue;
    }
    const shapes = ["exp_avg", "exp_avg_sq"].map((k) => st.info(`${pre}${idx}.${k}`).shape);
    if (shapes.some((s) => s.length !== p.shape.length || s.some((d, i) => d !== p.shape[i]))) {
      problems.push(`state ${idx} ("${p.name}"): moments of shape [${shapes[0]}], the parameter [${p.shape}]`);
      continue;
    }
    let step: number | undefined;
    if (st.has(`${pre}${idx}.step`)) step = toFloat32(await st.read(`${pre}${idx}.step`))[0];
    else {
      const v = st.metadata[`${pre}${idx}.step`];
      step = typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
    }
    if (step === undefined || !Number.isInteger(step) || step < 0) {
      problems.push(`state ${idx} ("${p.name}"): step ${String(step)} is not a non-negative integer`);
      continue;
    }
    params[p.name] = {
      step,
      shape: [...p.shape],
      expAvg: toFloat32(await st.read(`${pre}${idx}.exp_avg`)).slice(),
      expAvgSq: toFloat32(await st.read(`${pre}${idx}.exp_avg_sq`)).slice(),
    };
  }
  if (orphans.length) problems.push(`${orphans.length} state(s) belong to no parameter of the model's groups (indices ${orphans.slice(0, 10).join(", ")}${orphans.length > 10 ? " …" : ""})`);
  if (problems.length) {
    throw new OfficialCheckpointError(
      `${name}: the optimizer state does not fit this model's official param groups (${problems.length} problem(s)):\n  ${problems.slice(0, 20).join("\n  ")}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ""}`,
    );
  }
  const g0 = saved[0] ?? {};
  const betas = Array.isArray(g0.betas) && g0.betas.length === 2 ? ([Number(g0.betas[0]), Number(g0.betas[1])] as [number, number]) : [0.9, 0.95];
  const tclip = ckpt.args.tclip;
  return {
    betas: betas as [number, number],
    eps: typeof g0.eps === "number" ? g0.eps : 1e-8,
    gradClip: typeof tclip === "number" ? tclip : 2,
    groups: groups.map((g, i) => ({
      name: g.name,
      params: g.params.map(([n]) => n),
      lrScale: typeof saved[i]?.lr_sc === "number" ? saved[i].lr_sc! : g.lrScale,
      wdScale: typeof saved[i]?.wd_sc === "number" ? saved[i].wd_sc! : g.wdScale,
      lr: typeof saved[i]?.lr === "number" ? saved[i].lr! : 0,
      weightDecay: typeof saved[i]?.weight_decay === "number" ? saved[i].weight_decay! : 0,
    })),
    params,
  };
}

export interface LoadOfficialOptions extends OfficialStateOptions, OpenOptions {
  /** What the VAR's shapes cannot tell (e.g. `condDropRate`); patch_nums come from lvl_1L or the trainer config. */
  config?: Partial<VarConfig>;
}

export interface LoadedOfficialTrainer {
  model: VarTransformer;
  /** For `new AdamW(paramGroups(model)).loadState(…)`; undefined when the file has no optimizer state. */
  optimizerState: AdamWState | undefined;
  epoch: number | undefined;
  iter: number | undefined;
  args: Record<string, unknown>;
  trainerConfig: Record<string, unknown>;
}

/**
 * Read an official `ar-ckpt-*.pth` into a VarTransformer (strict: every
 * official key, shapes checked) and the AdamW state by parameter name. The
 * VQ-VAE in the file (`vae_local`) is not loaded (as the official resume
 * does with skip_vae); load the VQ-VAE's own file with loadVqvae.
 */
export async function loadOfficialTrainerCheckpoint(input: SourceInput, opts: LoadOfficialOptions = {}): Promise<LoadedOfficialTrainer> {
  const ckpt = await readOfficialTrainerCheckpoint(input, opts);
  try {
    const pn = ckpt.trainerConfig.patch_nums;
    const fromTrainer = !opts.config?.patchNums && !ckpt.var.has("lvl_1L") && Array.isArray(pn) ? { patchNums: pn.map(Number) } : {};
    const known: Partial<VarConfig> = { ...opts.config, ...fromTrainer };
    const model = await VarTransformer.fromCheckpoint(ckpt.var, { config: known, strict: true });
    const optimizerState = ckpt.optimizer ? await officialOptimizerState(ckpt, model, opts) : undefined;
    return { model, optimizerState, epoch: ckpt.epoch, iter: ckpt.iter, args: ckpt.args, trainerConfig: ckpt.trainerConfig };
  } finally {
    await ckpt.close();
  }
}

/** Buffers torch keeps as int64 (`lvl_1L`); everything else of a VAR is float32. */
const INT64_KEYS = /(^|\.)lvl_1L$/;

/** The model's state dict with torch's dtypes (int32 buffers such as lvl_1L as int64), official keys and order. */
export async function officialStateDict(model: Module): Promise<Map<string, HostTensor>> {
  const sd = await model.stateDict();
  for (const [k, t] of sd) {
    if (t.dtype === "int32" && INT64_KEYS.test(k)) {
      sd.set(k, { dtype: "int64", shape: t.shape, data: BigInt64Array.from(t.data as Int32Array, (x) => BigInt(x)) });
    }
  }
  return sd;
}

/**
 * A `.pth` of the model's weights as `torch.save(var.state_dict())` would
 * write it (zip format, protocol-2 pickle of an OrderedDict): read by
 * `torch.load(path, weights_only=True)`, accepted by the official
 * `VAR.load_state_dict(strict=True)`, and by `VarTransformer.fromCheckpoint`.
 */
export async function writeOfficialVarPth(model: Module): Promise<Uint8Array> {
  return writePth(await officialStateDict(model));
}

export interface OfficialTrainerCheckpointInput {
  model: VarTransformer;
  /** AdamW's `state()` (or the optimizer itself): written as torch's AdamW state dict over the official param groups. */
  optimizer?: AdamWState | { state(): Promise<AdamWState> };
  /** train.py's epoch counter (the epoch to start from on resume) and iteration. */
  epoch: number;
  iter?: number;
  /** `args.state_dict()` fields (plain values; arrays are written as tuples, as the official Args holds them); default none. */
  args?: Record<string, unknown>;
  /** Overrides of `trainer.get_config()` (patch_nums and resos come from the model, patch size 16; label_smooth 0; prog_it 0 …). */
  trainerConfig?: Record<string, unknown>;
  /** The run's no-decay keys (default the official ones), which define torch's parameter numbering. */
  noWeightDecayKeys?: readonly string[];
}

const tuple = (xs: unknown[]): PthValue => Object.assign(new PyTuple(), xs) as unknown as PthValue;
const float = (x: number) => new PyFloat(x);

/**
 * JS values to pickle values (integers stay ints; `PyFloat` for a float
 * that is integral). Arrays become tuples: the official args and trainer
 * config hold tuples (patch_nums, resos), and the trainer compares its
 * config with `!=`, for which a list is not a tuple.
 */
function pyValue(v: unknown, depth = 0): PthValue {
  if (depth > 32) throw new Error("writeOfficialTrainerCheckpoint: args nested more than 32 deep");
  if (v === undefined || v === null) return null;
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean" || typeof v === "bigint") return v;
  if (v instanceof PyFloat || v instanceof PyTuple) return v as PthValue;
  if (Array.isArray(v)) return tuple(v.map((x) => pyValue(x, depth + 1)));
  if (typeof v === "object") return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, pyValue(x, depth + 1)]));
  throw new Error(`writeOfficialTrainerCheckpoint: cannot write a ${typeof v}`);
}

/**
 * An official trainer checkpoint (`ar-ckpt-last.pth`) of our training state,
 * as train.py saves it: `{'epoch', 'iter', 'trainer': {'config',
 * 'var_wo_ddp', 'var_opt': {'optimizer'}}, 'args'}`, the optimizer as
 * torch 1.13's AdamW state dict (parameters numbered through the official
 * param groups, `step` a float32 scalar tensor as torch keeps it, each group
 * with lr, betas, eps, weight_decay, amsgrad, foreach, maximize, capturable,
 * wd_sc, lr_sc). No `vae_local` (the official resume skips it). It holds
 * Python floats, so it is read by `torch.load` without `weights_only`, as
 * train.py does.
 */
export async function writeOfficialTrainerCheckpoint(input: OfficialTrainerCheckpointInput): Promise<Uint8Array> {
  const { model } = input;
  const pn = [...model.config.patchNums];
  const patchSize = typeof input.args?.patch_size === "number" ? input.args.patch_size : 16;
  const config: Record<string, PthValue> = {
    patch_nums: tuple(pn),
    resos: tuple(pn.map((p) => p * patchSize)),
    label_smooth: float(0),
    prog_it: 0,
    last_prog_si: -1,
    first_prog: true,
  };
  for (const [k, v] of Object.entries(input.trainerConfig ?? {})) config[k] = pyValue(v);
  const trainer = new Map<string, PthValue>([
    ["config", config],
    ["var_wo_ddp", (await officialStateDict(model)) as unknown as PthValue],
  ]);
  if (input.optimizer) {
    const st = "params" in input.optimizer && "groups" in input.optimizer ? input.optimizer : await (input.optimizer as { state(): Promise<AdamWState> }).state();
    const groups = paramGroups(model, { noWeightDecayKeys: input.noWeightDecayKeys ?? OFFICIAL_NO_WEIGHT_DECAY_KEYS });
    const problems: string[] = [];
    if (st.groups.length !== groups.length) problems.push(`${st.groups.length} groups in the optimizer state, ${groups.length} official groups for the model`);
    const state = new Map<number, PthValue>();
    const paramGroupsOut: PthValue[] = [];
    let index = 0;
    groups.forEach((g, gi) => {
      const sg = st.groups[gi];
      const names = g.params.map(([n]) => n);
      if (sg && (sg.params.length !== names.length || sg.params.some((n, j) => n !== names[j]))) {
        problems.push(`group ${gi} ("${g.name}") of the optimizer state holds other parameters than the official group (${names.slice(0, 3).join(", ")} …)`);
      }
      const ids: number[] = [];
      for (const [n, p] of g.params) {
        const s = st.params[n];
        if (s) {
          if (s.shape.length !== p.shape.length || s.shape.some((d, i) => d !== p.shape[i])) problems.push(`"${n}": moments of shape [${s.shape}], the parameter [${p.shape}]`);
          state.set(index, {
            step: { dtype: "float32", shape: [], data: new Float32Array([s.step]) },
            exp_avg: { dtype: "float32", shape: [...p.shape], data: s.expAvg },
            exp_avg_sq: { dtype: "float32", shape: [...p.shape], data: s.expAvgSq },
          });
        }
        ids.push(index++);
      }
      paramGroupsOut.push({
        lr: float(sg?.lr ?? 0),
        betas: tuple([float(st.betas[0]), float(st.betas[1])]),
        eps: float(st.eps),
        weight_decay: float(sg?.weightDecay ?? 0),
        amsgrad: false,
        foreach: null,
        maximize: false,
        capturable: false,
        wd_sc: float(sg?.wdScale ?? g.wdScale),
        lr_sc: float(sg?.lrScale ?? g.lrScale),
        params: ids,
      });
    });
    if (problems.length) throw new OfficialCheckpointError(`writeOfficialTrainerCheckpoint: the optimizer state does not fit the model's official param groups:\n  ${problems.slice(0, 20).join("\n  ")}`);
    trainer.set("var_opt", { optimizer: { state: state as unknown as PthValue, param_groups: paramGroupsOut } });
  }
  const args = new Map<string, PthValue>(Object.entries(input.args ?? {}).map(([k, v]) => [k, pyValue(v)]));
  return writePth({ epoch: input.epoch, iter: input.iter ?? 0, trainer, args } as PthValue);
}
