import { listBackends } from "@nextscale/backends";
import { inspectCheckpoint, openCheckpoint, resolveModel, type TensorStore, toInt32 } from "@nextscale/core";
import { inferVqvaeConfig, VQVAE, VQVAE_PRESETS } from "@nextscale/tokenizer";
import { inferVarConfig, patchNumsFromLevels, VAR_PRESETS, type VarPresetName, VarTransformer } from "@nextscale/transformer";
import { parseArgs } from "../args.js";
import { type Command, UsageError } from "./types.js";

const PRESETS = Object.keys(VAR_PRESETS) as VarPresetName[];

/** Keys and parameter counts of a preset's VAR and VQ-VAE, built without allocating weights. */
function presetInfo(name: VarPresetName) {
  const config = VAR_PRESETS[name];
  const model = new VarTransformer(config);
  const vae = new VQVAE(config.patchNums.at(-1) === 32 ? VQVAE_PRESETS.vqvae_ch160v4096z32_512 : VQVAE_PRESETS.vqvae_ch160v4096z32);
  return {
    var: { config, params: model.numParameters(), keys: model.stateDictShapes() },
    vae: { config: vae.config, params: vae.numParameters(), keys: vae.stateDictShapes() },
  };
}

/** The model configuration a checkpoint implies, or why it cannot be inferred. */
async function inferredConfig(store: TensorStore, kind: string): Promise<Record<string, unknown>> {
  const shapes = Object.fromEntries(store.keys().map((k) => [k, store.info(k).shape]));
  try {
    if (kind === "var") {
      const patchNums = store.has("lvl_1L") ? patchNumsFromLevels(toInt32(await store.read("lvl_1L"))) : undefined;
      return { config: inferVarConfig(shapes, patchNums ? { patchNums } : {}) };
    }
    if (kind === "vae") return { config: inferVqvaeConfig(shapes) };
  } catch (e) {
    return { config_error: (e as Error).message };
  }
  return {};
}

export const info: Command = {
  name: "info",
  summary: "print a JSON summary of a checkpoint, a preset's keys (--preset d16) or the backends (--backends)",
  usage: `usage: nextscale info <file | name> [--no-keys]
       nextscale info --preset d16|d20|d24|d30|d36 [--no-keys]
       nextscale info --backends

<file> (.pth, .safetensors, .npz, .npy): JSON with file, format, kind
(vae/var/inception/other), tensors, params (learnable; known buffers
excluded), elements, bytes, dtype, dtypes, the inferred model config (for VAR
and VQ-VAE checkpoints) and keys (name -> shape). A name (var-d16, vae,
inception: see nextscale download --list) reads the file from the model cache.
--preset: {"var": {"config", "params", "keys"}, "vae": {…}} of an official
model, exactly the official state dicts' keys and shapes (no weights needed).
--no-keys leaves out the key lists.
--backends: a list of {name, available, reason, built} for cuda, webgpu,
native, wasm and cpu (reason says why one cannot run, or what it runs on;
built: whether @nextscale/backend-native compiled that device at install).`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        "no-keys": { type: "boolean", default: false },
        backends: { type: "boolean", default: false },
        preset: { type: "string" },
      },
    });
    const print = (x: unknown) => io.out(`${JSON.stringify(x, null, 2)}\n`);
    if (values.backends) {
      if (positionals.length || values.preset) throw new UsageError("--backends takes no file or preset");
      print(await listBackends());
      return 0;
    }
    if (values.preset !== undefined) {
      if (positionals.length) throw new UsageError("--preset takes no file");
      if (!PRESETS.includes(values.preset as VarPresetName)) {
        throw new UsageError(`unknown preset "${values.preset}" (known: ${PRESETS.join(", ")})`);
      }
      const p = presetInfo(values.preset as VarPresetName);
      if (values["no-keys"]) {
        print({ var: { config: p.var.config, params: p.var.params }, vae: { config: p.vae.config, params: p.vae.params } });
      } else print(p);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("expected exactly one checkpoint file (or --preset NAME, or --backends)");
    const store = await openCheckpoint(await resolveModel(positionals[0]));
    try {
      const { keys, ...rest } = inspectCheckpoint(store);
      const config = await inferredConfig(store, rest.kind);
      print(values["no-keys"] ? { ...rest, ...config } : { ...rest, ...config, keys });
    } finally {
      await store.close();
    }
    return 0;
  },
};
