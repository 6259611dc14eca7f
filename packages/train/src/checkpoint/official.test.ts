/**
 * Interop with the official PyTorch trainer, on test-fixtures/train-interop
 * (an ar-ckpt-last.pth saved by the official train.py code after one
 * VARTrainer.train_step, torch 1.13): reading it into a VarTransformer and
 * AdamW by parameter name, and writing a VAR .pth that torch.load
 * (weights_only=True) and the official VAR.load_state_dict(strict=True) take.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint, toFloat32, writeZipStored } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import { loadVqvae } from "@nextscale/tokenizer";
import { VarTransformer, varConfig } from "@nextscale/transformer";
import { afterAll, describe, expect, it } from "vitest";
import { AdamW } from "../optim/adamw.js";
import { paramGroups } from "../optim/param-groups.js";
import { checkpointPath, loadCheckpoint, saveCheckpoint } from "./files.js";
import {
  loadOfficialTrainerCheckpoint,
  OfficialCheckpointError,
  officialOptimizerState,
  readOfficialTrainerCheckpoint,
  writeOfficialTrainerCheckpoint,
  writeOfficialVarPth,
} from "./official.js";

const DIR = join(FIXTURES, "train-interop");
const CKPT = join(DIR, "ar-ckpt-last.pth");
interface Fingerprint {
  sum: number | string;
  abs_sum: number | string;
  non_finite: number;
  first: (number | string)[];
}
const META = JSON.parse(readFileSync(join(DIR, "meta.json"), "utf8")) as {
  names: string[];
  group_names: string[][];
  groups: { wd_sc: number; lr_sc: number; lr: number; weight_decay: number; params: number[] }[];
  state_dict: [string, number[], string][];
  step: number;
  epoch: number;
  iter: number;
  args: Record<string, unknown>;
  trainer_config: Record<string, unknown>;
  moments: Record<string, { exp_avg: Fingerprint; exp_avg_sq: Fingerprint }>;
  weights_after_step: Record<string, Fingerprint>;
};

const PYTHON = process.env.NEXTSCALE_TORCH_PYTHON ?? "/usr/bin/python3";
/** Run Python with torch (`-c code`, or a script file); fails (never skips) with the fix when torch is missing. */
function torchPython(code: string | { file: string }, ...args: string[]): string {
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `this test needs PyTorch: ${PYTHON} -c 'import torch' failed (${(probe.stderr || String(probe.error)).trim().split("\n").pop()}); install it with 'apt-get install -y --no-install-recommends python3-torch' (or set NEXTSCALE_TORCH_PYTHON to a python with torch)`,
    );
  }
  const argv = typeof code === "string" ? ["-c", code, ...args] : [code.file, ...args];
  const r = spawnSync(PYTHON, argv, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed:\n${r.stderr}`);
  return r.stdout;
}

/** An exported tree of the official code, when one can be had here (NEXTSCALE_VAR_CHECKOUT, or this machine's mirror; "none": never), else undefined. */
function officialCheckout(tmp: string): string | undefined {
  const given = process.env.NEXTSCALE_VAR_CHECKOUT;
  if (given === "none") return undefined;
  if (given && existsSync(join(given, "models", "var.py"))) return given;
  const mirror = "/work/.mirror/FoundationVision+VAR/repo";
  if (!existsSync(mirror)) return undefined;
  const out = join(tmp, "var-official");
  const r = spawnSync("bash", ["-c", `mkdir -p "${out}" && git -C "${mirror}" archive 78b95394fc5896192e3a003e4b295f8ea743c48f | tar -x -C "${out}"`]);
  return r.status === 0 && existsSync(join(out, "models", "var.py")) ? out : undefined;
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "train-official-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Compare a float32 array with a fingerprint from the fixture (first values exactly, sums to float64 rounding). */
function expectFingerprint(a: Float32Array, f: Fingerprint, what: string): void {
  const num = (x: number | string) => (typeof x === "number" ? x : Number(x.replace("inf", "Infinity")));
  expect([...a.slice(0, f.first.length)], what).toEqual(f.first.map(num));
  let sum = 0;
  let abs = 0;
  let nonFinite = 0;
  for (const x of a) {
    if (!Number.isFinite(x)) nonFinite++;
    else {
      sum += x;
      abs += Math.abs(x);
    }
  }
  expect(nonFinite, what).toBe(f.non_finite);
  expect(Math.abs(abs - num(f.abs_sum)), what).toBeLessThanOrEqual(1e-9 * Math.max(1, num(f.abs_sum)));
  expect(Math.abs(sum - num(f.sum)), what).toBeLessThanOrEqual(1e-9 * Math.max(1, num(f.abs_sum)));
}

describe("official trainer checkpoints (ar-ckpt-*.pth)", () => {
  it("are read without running code: epoch, iter, args, trainer config, the VAR state dict under its official keys, the optimizer's groups", async () => {
    const ckpt = await readOfficialTrainerCheckpoint(CKPT);
    expect(ckpt.epoch).toBe(META.epoch);
    expect(ckpt.iter).toBe(META.iter);
    expect(ckpt.args.depth).toBe(2);
    expect(ckpt.args.pn).toBe("1_2_3_4");
    expect(ckpt.args.patch_nums).toEqual([1, 2, 3, 4]);
    expect(ckpt.args.tlr).toBe(META.args.tlr);
    expect(ckpt.args.commit_id).toBe(META.args.commit_id);
    expect(ckpt.trainerConfig).toEqual(META.trainer_config);
    expect(ckpt.var.keys()).toEqual(META.state_dict.map(([k]) => k));
    for (const [k, shape, dtype] of META.state_dict) expect([k, ckpt.var.info(k).shape, ckpt.var.info(k).dtype]).toEqual([k, shape, dtype]);
    expect(ckpt.vae).toBeUndefined();
    expect(ckpt.scaler).toBeUndefined();
    expect(ckpt.optimizer!.paramGroups.map((g) => [g.params, g.wd_sc, g.lr_sc, g.lr, g.weight_decay])).toEqual(
      META.groups.map((g) => [g.params, g.wd_sc, g.lr_sc, g.lr, g.weight_decay]),
    );
    expect(ckpt.optimizer!.indices).toEqual(META.names.map((_, i) => i));
    await ckpt.close();
  });

  it("load into a VarTransformer (strict) and the AdamW moments by parameter name (the official filter_params numbering)", async () => {
    const got = await loadOfficialTrainerCheckpoint(CKPT);
    const { model, optimizerState } = got;
    expect(model.config.patchNums).toEqual([1, 2, 3, 4]);
    expect(model.config.numClasses).toBe(10);
    // our official grouping reproduces filter_params' names and groups exactly
    const groups = paramGroups(model);
    expect(groups.flatMap((g) => g.params.map(([n]) => n))).toEqual(META.group_names.flat());
    expect(groups.map((g) => g.params.map(([n]) => n))).toEqual(META.group_names);
    const sd = await model.stateDict();
    for (const [k, f] of Object.entries(META.weights_after_step)) expectFingerprint(toFloat32(sd.get(k)!), f, k);
    const st = optimizerState!;
    expect(Object.keys(st.params).sort()).toEqual([...META.names].sort());
    for (const [n, m] of Object.entries(META.moments)) {
      expect(st.params[n].step).toBe(META.step);
      expectFingerprint(st.params[n].expAvg, m.exp_avg, `${n}.exp_avg`);
      expectFingerprint(st.params[n].expAvgSq, m.exp_avg_sq, `${n}.exp_avg_sq`);
    }
    expect(st.betas).toEqual([0.9, 0.95]);
    expect(st.gradClip).toBe(2);
    expect(st.groups.map((g) => [g.name, g.wdScale, g.lr, g.weightDecay])).toEqual(
      META.groups.map((g, i) => [i === 0 ? "ND" : "D", g.wd_sc, g.lr, g.weight_decay]),
    );

    // into our AdamW, then a training checkpoint of ours, and back: nothing lost
    const opt = new AdamW(paramGroups(model));
    opt.loadState(st);
    const path = await saveCheckpoint(join(tempDir(), "ckpt.safetensors"), { model, optimizer: opt, step: META.step, config: { args: got.args } as never });
    const fresh = new VarTransformer(model.config);
    const freshOpt = new AdamW(paramGroups(fresh));
    await loadCheckpoint(path, fresh, { optimizer: freshOpt });
    const back = await freshOpt.state();
    for (const [n, m] of Object.entries(META.moments)) expectFingerprint(back.params[n].expAvgSq, m.exp_avg_sq, `${n}.exp_avg_sq (ours)`);
    expect(back.groups).toEqual(st.groups);
    for (const x of [opt, freshOpt, model, fresh]) x.dispose();
  });

  it("with the VQ-VAE in the file (trainer.vae_local, as train.py saves it): ckpt.vae loads with loadVqvae, the VAR and optimizer as before (PyTorch via /usr/bin/python3)", async () => {
    const path = join(tempDir(), "ar-ckpt-with-vae.pth");
    torchPython(
      `
import sys, torch
c = torch.load(sys.argv[1], map_location="cpu")
t = c["trainer"]
c["trainer"] = {"config": t["config"], "var_wo_ddp": t["var_wo_ddp"], "vae_local": torch.load(sys.argv[2], map_location="cpu"), "var_opt": t["var_opt"]}
torch.save(c, sys.argv[3])
`,
      CKPT,
      join(FIXTURES, "var-tiny", "vae.pth"),
      path,
    );
    const ckpt = await readOfficialTrainerCheckpoint(path);
    expect(ckpt.vae!.keys().length).toBe(324);
    const vae = await loadVqvae(ckpt.vae!, { patchNums: ckpt.trainerConfig.patch_nums as number[] });
    expect(vae.config.vocabSize).toBe(64);
    const model = await VarTransformer.fromCheckpoint(ckpt.var);
    const st = await officialOptimizerState(ckpt, model);
    expect(Object.keys(st.params)).toHaveLength(META.names.length);
    await ckpt.close();
    model.dispose();
    vae.dispose();
  });

  it("name what differs when the optimizer state belongs to another model", async () => {
    const ckpt = await readOfficialTrainerCheckpoint(CKPT);
    const other = new VarTransformer(varConfig({ depth: 1, embedDim: 128, numHeads: 2, numClasses: 10, vocabSize: 64, cvae: 8, patchNums: [1, 2, 3, 4] }));
    const err = await officialOptimizerState(ckpt, other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfficialCheckpointError);
    expect((err as Error).message).toMatch(/group 0 \("ND"\): 20 parameters in the checkpoint, 13 in the model/);
    expect((err as Error).message).toMatch(/group 1 \("D"\): 14 parameters in the checkpoint, 9 in the model/);
    expect((err as Error).message).toMatch(/12 state\(s\) belong to no parameter of the model's groups/);
    const wide = new VarTransformer(varConfig({ depth: 2, embedDim: 128, numHeads: 2, numClasses: 12, vocabSize: 64, cvae: 8, patchNums: [1, 2, 3, 4] }));
    expect(((await officialOptimizerState(ckpt, wide).catch((e: unknown) => e)) as Error).message).toContain(
      'moments of shape [11,128], the parameter [13,128]',
    );
    await ckpt.close();
  });

  it("refuse a pickle that names another Python global (a numpy scalar in args) with an error that says why and how to fix it", async () => {
    const err = await readOfficialTrainerCheckpoint(join(DIR, "ar-ckpt-numpy-args.refused.pth")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OfficialCheckpointError);
    const msg = (err as Error).message;
    expect(msg).toContain("numpy.core.multiarray.scalar");
    expect(msg).toMatch(/without running any code/);
    expect(msg).toMatch(/'args'/);
    expect(msg).toContain("v.item() if hasattr(v, 'item')");
    await expect(readOfficialTrainerCheckpoint(join(FIXTURES, "var-tiny", "var.pth"))).rejects.toThrow(/not an official trainer checkpoint.*VarTransformer\.fromCheckpoint/);
    // a pickle that would run a shell command when unpickled by Python: refused by name, nothing is looked up or run
    const enc = new TextEncoder();
    const evil = new Uint8Array([0x80, 0x02, 0x7d, 0x58, 4, 0, 0, 0, ...enc.encode("args"), 0x63, ...enc.encode("posix\nsystem\n"), 0x58, 4, 0, 0, 0, ...enc.encode("true"), 0x85, 0x52, 0x73, 0x2e]);
    const file = writeZipStored([["archive/data.pkl", evil], ["archive/version", enc.encode("3\n")]]);
    const e2 = await readOfficialTrainerCheckpoint(file).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(OfficialCheckpointError);
    expect((e2 as Error).message).toContain("posix.system");
  });
});

describe("writeOfficialVarPth", () => {
  it("round-trips here bit for bit (official keys, order, shapes; lvl_1L as int64)", async () => {
    const { model } = await loadOfficialTrainerCheckpoint(CKPT);
    const bytes = await writeOfficialVarPth(model);
    const store = await openCheckpoint(bytes);
    expect(store.format).toBe("pth");
    expect(store.keys()).toEqual(META.state_dict.map(([k]) => k));
    const sd = await model.stateDict();
    for (const [k, shape, dtype] of META.state_dict) {
      const t = await store.read(k);
      expect([k, t.shape, t.dtype]).toEqual([k, shape, dtype]);
      const mine = sd.get(k)!;
      if (dtype === "int64") expect([...(t.data as BigInt64Array)].map(Number)).toEqual([...mine.data]);
      else expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(mine.data.buffer, mine.data.byteOffset, mine.data.byteLength)), k).toBe(true);
    }
    await store.close();
    const again = await VarTransformer.fromCheckpoint(await openCheckpoint(bytes));
    expect(again.config).toEqual(model.config);
    model.dispose();
    again.dispose();
  });

  it("is read by torch.load(weights_only=True) and accepted by the official VAR.load_state_dict(strict=True) (PyTorch via /usr/bin/python3)", async () => {
    const { model } = await loadOfficialTrainerCheckpoint(CKPT);
    const dir = tempDir();
    const path = join(dir, "var.pth");
    writeFileSync(path, await writeOfficialVarPth(model));
    const ref = join(dir, "keys.json");
    writeFileSync(ref, JSON.stringify(META.state_dict));
    const checkout = officialCheckout(dir);
    const out = torchPython(
      `
import json, sys, types, collections, torch
path, ref, checkout = sys.argv[1], sys.argv[2], sys.argv[3]
sd = torch.load(path, map_location="cpu", weights_only=True)
assert type(sd) is collections.OrderedDict, type(sd)
want = json.load(open(ref))
got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
assert got == want, f"keys/shapes/dtypes differ from the official state_dict: {[g for g, w in zip(got, want) if g != w][:5]} (lengths {len(got)} vs {len(want)})"
res = {"torch": torch.__version__, "weights_only": True, "official_model": False}
if checkout:
    sys.path.insert(0, checkout)
    sys.modules.setdefault("huggingface_hub", types.SimpleNamespace(PyTorchModelHubMixin=type("PyTorchModelHubMixin", (), {})))
    from models import VAR, VQVAE
    vae = VQVAE(vocab_size=64, z_channels=8, ch=32, test_mode=True, share_quant_resi=4, v_patch_nums=(1, 2, 3, 4))
    var = VAR(vae_local=vae, num_classes=10, depth=2, embed_dim=128, num_heads=2, norm_eps=1e-6, shared_aln=False, attn_l2_norm=True,
              patch_nums=(1, 2, 3, 4), flash_if_available=False, fused_if_available=False)
    r = var.load_state_dict(sd, strict=True)
    assert not r.missing_keys and not r.unexpected_keys, r
    osd = var.state_dict()
    assert all(torch.equal(osd[k], sd[k]) for k in sd), "values differ after load_state_dict"
    res["official_model"] = True
    res["official_keys_equal"] = list(osd.keys()) == list(sd.keys())
print(json.dumps(res))
`,
      path,
      ref,
      checkout ?? "",
    );
    const res = JSON.parse(out.trim().split("\n").pop()!) as { torch: string; official_model: boolean; official_keys_equal?: boolean };
    console.log(
      `torch ${res.torch}: weights_only load OK, keys/shapes/dtypes equal the official VAR state_dict (fixture); ${
        res.official_model ? "the official VAR (models/var.py) load_state_dict(strict=True) accepted it" : "no official checkout here (set NEXTSCALE_VAR_CHECKOUT): the official model was not built"
      }`,
    );
    if (res.official_model) expect(res.official_keys_equal).toBe(true);
    model.dispose();
  });
});

describe("writeOfficialTrainerCheckpoint", () => {
  it("official ar-ckpt -> ours -> an ar-ckpt equal to the official one tensor for tensor, from which the official train.py resumes and trains (PyTorch via /usr/bin/python3)", async () => {
    const got = await loadOfficialTrainerCheckpoint(CKPT);
    const opt = new AdamW(paramGroups(got.model));
    opt.loadState(got.optimizerState!);
    const bytes = await writeOfficialTrainerCheckpoint({ model: got.model, optimizer: opt, epoch: got.epoch!, iter: got.iter, args: got.args, trainerConfig: got.trainerConfig });
    // here: it reads back as an official checkpoint with the same moments
    const back = await loadOfficialTrainerCheckpoint(bytes);
    expect(back.args).toEqual(got.args);
    for (const [n, m] of Object.entries(META.moments)) expectFingerprint(back.optimizerState!.params[n].expAvg, m.exp_avg, `${n}.exp_avg`);
    const dir = tempDir();
    const path = join(dir, "ar-ckpt-last.pth");
    writeFileSync(path, bytes);
    const checkout = officialCheckout(dir);
    const out = torchPython({ file: join(FIXTURES, "..", "tools", "fixtures", "check_official_resume.py") }, path, CKPT, checkout ?? "");
    const res = JSON.parse(out.trim().split("\n").pop()!) as Record<string, unknown>;
    console.log(`torch ${res.torch}: ${JSON.stringify(res)}${checkout ? "" : " (no official checkout here, set NEXTSCALE_VAR_CHECKOUT: train.py's resume path was not run)"}`);
    expect(res.plain_adamw_step).toBe(META.step + 1);
    if (res.official_trainer) expect([res.resumed_step_after_train_step, res.loss_finite, res.grad_norm_finite]).toEqual([META.step + 1, true, true]);
    for (const x of [opt, got.model, back.model]) x.dispose();
  });
});

describe("our training checkpoints in PyTorch", () => {
  it("the safetensors file's tensors but optimizer.* are a state dict the official VAR.load_state_dict(strict=True) takes (parsed with numpy; PyTorch via /usr/bin/python3)", async () => {
    const got = await loadOfficialTrainerCheckpoint(CKPT);
    const opt = new AdamW(paramGroups(got.model));
    opt.loadState(got.optimizerState!);
    const dir = tempDir();
    const path = await saveCheckpoint(checkpointPath(dir, 1), { model: got.model, optimizer: opt, step: 1 });
    const ref = join(dir, "keys.json");
    writeFileSync(ref, JSON.stringify(META.state_dict));
    const checkout = officialCheckout(dir);
    const out = torchPython(
      `
import json, struct, sys, types, collections, numpy as np, torch
path, ref, official, checkout = sys.argv[1:5]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
dt = {"F32": np.float32, "I32": np.int32, "I64": np.int64}
sd = collections.OrderedDict()
for k, v in header.items():
    if k.startswith("optimizer."):
        continue
    b, e = v["data_offsets"]
    a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"])
    sd[k] = torch.from_numpy(a.copy())
want = json.load(open(ref))
assert [[k, list(t.shape)] for k, t in sd.items()] == [[k, s] for k, s, _ in want], "keys/shapes differ from the official state_dict"
offsd = torch.load(official, map_location="cpu")["trainer"]["var_wo_ddp"]
same = all(torch.equal(sd[k].to(offsd[k].dtype), offsd[k]) for k in offsd)
res = {"meta_step": meta["step"], "equal_to_official_weights": same, "official_model": False}
if checkout:
    sys.path.insert(0, checkout)
    sys.modules.setdefault("huggingface_hub", types.SimpleNamespace(PyTorchModelHubMixin=type("PyTorchModelHubMixin", (), {})))
    from models import VAR, VQVAE
    vae = VQVAE(vocab_size=64, z_channels=8, ch=32, test_mode=True, share_quant_resi=4, v_patch_nums=(1, 2, 3, 4))
    var = VAR(vae_local=vae, num_classes=10, depth=2, embed_dim=128, num_heads=2, norm_eps=1e-6, shared_aln=False, attn_l2_norm=True,
              patch_nums=(1, 2, 3, 4), flash_if_available=False, fused_if_available=False)
    r = var.load_state_dict(sd, strict=True)
    res["official_model"] = not r.missing_keys and not r.unexpected_keys
sys.stdout.write(json.dumps(res) + "\\n")
`,
      path,
      ref,
      CKPT,
      checkout ?? "",
    );
    const res = JSON.parse(out.trim().split("\n").pop()!) as { meta_step: string; equal_to_official_weights: boolean; official_model: boolean };
    console.log(`our checkpoint in torch: ${JSON.stringify(res)}${checkout ? "" : " (no official checkout here: keys and shapes checked against the fixture's official list)"}`);
    expect(res.meta_step).toBe("1");
    expect(res.equal_to_official_weights).toBe(true);
    if (checkout) expect(res.official_model).toBe(true);
    opt.dispose();
    got.model.dispose();
  });
});
