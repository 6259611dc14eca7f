/**
 * Training checkpoints: safetensors with the model under its official
 * state-dict names, the AdamW state, step, RNG, config and metrics; atomic
 * save (an interrupted write leaves the previous file), latestCheckpoint,
 * errors that name what differs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HostTensor, Module, openCheckpoint, Random, StateDictError, writeSafetensors } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import { VarTransformer, varConfig } from "@nextscale/transformer";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { AdamW } from "../optim/adamw.js";
import { paramGroups } from "../optim/param-groups.js";
import { checkpointPath, latestCheckpoint, loadCheckpoint, readCheckpoint, saveCheckpoint } from "./files.js";
import { CheckpointMismatchError, checkpointParts, OPTIMIZER_PREFIX, prepareCheckpoint } from "./format.js";

const TINY = join(FIXTURES, "var-tiny", "var.pth");
/** The official VAR state_dict keys of the tiny config, from the official model (tools/fixtures/make_train_interop.py). */
const OFFICIAL = JSON.parse(readFileSync(join(FIXTURES, "train-interop", "meta.json"), "utf8")) as { state_dict: [string, number[], string][] };

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "train-ckpt-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function tinyVar(): Promise<VarTransformer> {
  const store = await openCheckpoint(TINY);
  try {
    return await VarTransformer.fromCheckpoint(store);
  } finally {
    await store.close();
  }
}

/** An AdamW over the model's official groups after two steps on seeded gradients. */
function steppedAdamW(model: Module, seed: number): AdamW {
  const groups = paramGroups(model, { lr: 1e-3 });
  for (const g of groups) g.weightDecay = g.wdScale * 0.05;
  const opt = new AdamW(groups);
  const r = new Random(seed);
  for (let s = 0; s < 2; s++) {
    const grads: Record<string, tf.Tensor> = {};
    for (const [n, p] of opt.namedParameters()) {
      const size = p.internalShape.reduce((a, b) => a * b, 1);
      grads[n] = tf.tensor(r.fill(new Float32Array(size), (x) => x.normal(0, 0.01)), p.internalShape);
    }
    opt.step(grads)?.dispose();
    tf.dispose(Object.values(grads));
  }
  return opt;
}

const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
/** Bit-for-bit equality (a Buffer comparison: expect(…).toEqual on megabyte arrays takes seconds). */
const same = (a: HostTensor["data"], b: HostTensor["data"]) => bytes({ dtype: "float32", shape: [], data: a }).equals(bytes({ dtype: "float32", shape: [], data: b }));
const CONFIG = { model: { depth: 2, patchNums: [1, 2, 3, 4] }, lr: 1e-3, batch: 2, data: "tiny" };

describe("training checkpoints (saveCheckpoint / loadCheckpoint)", () => {
  it("hold the model under the exact official state-dict keys and shapes, then the optimizer's tensors", async () => {
    const model = await tinyVar();
    const opt = steppedAdamW(model, 1);
    const path = await saveCheckpoint(join(tempDir(), "ckpt.safetensors"), { model, optimizer: opt, step: 2 });
    const store = await openCheckpoint(path);
    const modelKeys = store.keys().filter((k) => !k.startsWith(OPTIMIZER_PREFIX));
    expect(modelKeys).toEqual(OFFICIAL.state_dict.map(([k]) => k));
    for (const [k, shape] of OFFICIAL.state_dict) expect(store.info(k).shape).toEqual(shape);
    // the moments are shaped like their parameters (torch's exp_avg layout)
    expect(store.info(`${OPTIMIZER_PREFIX}params.blocks.0.attn.mat_qkv.weight.expAvg`).shape).toEqual([384, 128]);
    expect(store.metadata.format).toBe("nextscale-train-checkpoint");
    expect(store.metadata.step).toBe("2");
    await store.close();
    opt.dispose();
    model.dispose();
  });

  it("are streamed in parts (header, then each tensor) whose concatenation is core's writeSafetensors file, which saveCheckpoint writes", async () => {
    const model = await tinyVar();
    const opt = steppedAdamW(model, 3);
    const prepared = await prepareCheckpoint({ model, optimizer: opt, step: 5, config: CONFIG });
    const parts = checkpointParts(prepared);
    expect(parts).toHaveLength(prepared.tensors.length + 1);
    expect(Buffer.concat(parts).equals(Buffer.from(writeSafetensors(prepared.tensors, prepared.metadata)))).toBe(true);
    opt.dispose();
    model.dispose();
  });

  it("round-trip weights, AdamW state, step, RNG, config and metrics exactly", async () => {
    const model = await tinyVar();
    const opt = steppedAdamW(model, 2);
    const rng = { data: new Random(5), dropout: Random.forIndex(9, 3) };
    rng.data.normal();
    const metrics = { loss: 4.125, acc: [0.5, 0.25], best: null };
    const path = await saveCheckpoint(checkpointPath(tempDir(), 2), { model, optimizer: opt, step: 2, rng, config: CONFIG, metrics });
    expect(path).toMatch(/ckpt-00000002\.safetensors$/);

    const fresh = new VarTransformer(model.config);
    const freshOpt = new AdamW(paramGroups(fresh));
    const got = await loadCheckpoint(path, fresh, { optimizer: freshOpt, config: CONFIG });
    expect(got.step).toBe(2);
    expect(got.config).toEqual(CONFIG);
    expect(got.metrics).toEqual(metrics);
    const sdA = await model.stateDict();
    const sdB = await fresh.stateDict();
    for (const [k, t] of sdA) expect(same(sdB.get(k)!.data, t.data), k).toBe(true);
    const [sa, sb] = [await opt.state(), await freshOpt.state()];
    expect(sb.groups).toEqual(sa.groups);
    expect(Object.keys(sb.params)).toEqual(Object.keys(sa.params));
    for (const [n, s] of Object.entries(sa.params)) {
      expect(sb.params[n].step).toBe(2);
      expect(sb.params[n].shape).toEqual(s.shape);
      expect(same(sb.params[n].expAvg, s.expAvg), n).toBe(true);
      expect(same(sb.params[n].expAvgSq, s.expAvgSq), n).toBe(true);
    }
    const restored = got.rng as Record<string, Random>;
    expect([restored.data.nextUint32(), restored.data.normal()]).toEqual([rng.data.nextUint32(), rng.data.normal()]);
    expect(restored.dropout.index).toBe(3);
    expect(restored.dropout.random()).toBe(rng.dropout.random());
    for (const x of [opt, freshOpt, model, fresh]) x.dispose();
  });

  it("take any optimizer with state() / loadState() of plain data and typed arrays (a stand-in)", async () => {
    class Two extends Module {
      constructor() {
        super();
        this.param("w", [2, 3]);
        this.param("b", [3]);
      }
    }
    const model = new Two();
    model.initParameters((_, p) => tf.fill([...p.shape], 0.5));
    let loaded: unknown;
    const stateOut = { t: 7, nested: { m: new Float32Array([1, 2, 3]), shape: [3], steps: [new Int32Array([4, 5])] }, inf: Infinity, label: "x" };
    const optimizer = { state: () => stateOut, loadState: (s: unknown) => (loaded = s) };
    const path = await saveCheckpoint(join(tempDir(), "two.safetensors"), { model, optimizer, step: 0, rng: new Random(1) });
    const fresh = new Two();
    const got = await loadCheckpoint(path, fresh, { optimizer });
    expect(loaded).toEqual(stateOut);
    expect((loaded as typeof stateOut).nested.m).toBeInstanceOf(Float32Array);
    expect((loaded as typeof stateOut).nested.steps[0]).toBeInstanceOf(Int32Array);
    expect((got.rng as Random).nextUint32()).toBe(new Random(1).nextUint32());
    const c = await readCheckpoint(path);
    expect(c.store.info(`${OPTIMIZER_PREFIX}nested.m`).shape).toEqual([3]);
    await c.store.close();
    model.dispose();
    fresh.dispose();
  });

  it("name every mismatching key and shape for a checkpoint of another model, and every differing config key", async () => {
    const model = await tinyVar();
    const path = await saveCheckpoint(join(tempDir(), "a.safetensors"), { model, step: 1, config: CONFIG });
    const other = new VarTransformer(varConfig({ ...model.config, numClasses: 20, depth: 1 }));
    const err = await loadCheckpoint(path, other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/unexpected keys \(\d+\): blocks\.1\./);
    expect(msg).toContain("class_emb.weight expected [21,128] found [11,128]");
    expect(msg).toMatch(/another model or config: it was saved from a VarTransformer with 38 tensors and \d+ parameters/);

    const cfgErr = await loadCheckpoint(path, model, { config: { ...CONFIG, lr: 2e-3, model: { depth: 2, patchNums: [1, 2, 3, 5] } } }).catch((e: unknown) => e);
    expect(cfgErr).toBeInstanceOf(CheckpointMismatchError);
    expect((cfgErr as Error).message).toContain("model.patchNums[3]: 4 in the checkpoint, 5 in this run");
    expect((cfgErr as Error).message).toContain("lr: 0.001 in the checkpoint, 0.002 in this run");
    await expect(loadCheckpoint(path, model, { config: { ...CONFIG, lr: 2e-3 }, allowConfigChange: true })).resolves.toMatchObject({ step: 1 });
    await expect(loadCheckpoint(path, model, { optimizer: { state: () => ({}), loadState: () => {} } })).rejects.toThrow(/no optimizer state/);
    await expect(loadCheckpoint(TINY, model)).rejects.toThrow(/not a nextscale training checkpoint.*readOfficialTrainerCheckpoint/);
    model.dispose();
    other.dispose();
  });

  it("write atomically: a write interrupted mid-file leaves the previous checkpoint intact and no temporary file", async () => {
    const dir = tempDir();
    const model = await tinyVar();
    const path = checkpointPath(dir, 1);
    await saveCheckpoint(path, { model, step: 1 });
    const before = readFileSync(path);
    // the crash: after two 64 KiB chunks of the new file are on disk
    let writes = 0;
    const crash = {
      throwIfAborted() {
        if (++writes > 2) throw new Error("simulated crash mid-write");
      },
    } as AbortSignal;
    model.pos_start.value.assign(tf.fill([1, 1, 128], 3));
    await expect(saveCheckpoint(path, { model, step: 2 }, { signal: crash, chunkBytes: 1 << 16 })).rejects.toThrow(/simulated crash/);
    expect(writes).toBe(3);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(["ckpt-00000001.safetensors"]);
    expect(await latestCheckpoint(dir)).toBe(path);
    model.dispose();
  });

  it("latestCheckpoint: the highest step that opens as a complete checkpoint; temp files of a killed save and cut files are skipped", async () => {
    const dir = tempDir();
    expect(await latestCheckpoint(dir)).toBeUndefined();
    expect(await latestCheckpoint(join(dir, "nope"))).toBeUndefined();
    const model = await tinyVar();
    for (const s of [1, 10, 9]) await saveCheckpoint(checkpointPath(dir, s), { model, step: s });
    expect(await latestCheckpoint(dir)).toBe(checkpointPath(dir, 10));
    // what a process killed before its rename leaves, and a file cut short (copied by hand, disk full)
    const full = readFileSync(checkpointPath(dir, 10));
    writeFileSync(join(dir, ".ckpt-00000011.safetensors.tmp-4242-abc"), full.subarray(0, full.length >> 1));
    writeFileSync(checkpointPath(dir, 12), full.subarray(0, full.length - 100));
    writeFileSync(join(dir, "notes.txt"), "x");
    const skipped: string[] = [];
    expect(await latestCheckpoint(dir, { onSkip: (p, why) => skipped.push(`${p}: ${why}`) })).toBe(checkpointPath(dir, 10));
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatch(/ckpt-00000012\.safetensors: .*(truncated|out of range|exceeds)/);
    model.dispose();
  });
});
