import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "./checkpoint.js";
import type { HostTensor } from "./dtype.js";
import { PyTuple } from "./pickle.js";
import { openPth } from "./pth.js";
import { PyFloat, writePth } from "./pth-write.js";
import { BufferSource } from "./source.js";
import { ZipReader } from "./zip.js";

const PYTHON = process.env.NEXTSCALE_TORCH_PYTHON ?? "/usr/bin/python3";

/** Run a Python snippet with torch; fails (never skips) with the fix when torch is missing. */
function torchPython(code: string, ...args: string[]): string {
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(
      `this test needs PyTorch: ${PYTHON} -c 'import torch' failed (${(probe.stderr || String(probe.error)).trim().split("\n").pop()}); install it with 'apt-get install -y --no-install-recommends python3-torch' (or set NEXTSCALE_TORCH_PYTHON to a python with torch)`,
    );
  }
  const r = spawnSync(PYTHON, ["-c", code, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed:\n${r.stderr}`);
  return r.stdout;
}

function sample(): Map<string, HostTensor> {
  const f = new Float32Array(24).map((_, i) => (i - 7) / 3 + 1e-7 * i);
  return new Map<string, HostTensor>([
    ["blocks.0.attn.mat_qkv.weight", { dtype: "float32", shape: [6, 4], data: f }],
    ["scale", { dtype: "float32", shape: [], data: new Float32Array([Math.PI]) }],
    ["empty", { dtype: "float32", shape: [0, 3], data: new Float32Array(0) }],
    ["ids", { dtype: "int64", shape: [3], data: new BigInt64Array([-1n, 2n ** 40n, 5n]) }],
    ["i32", { dtype: "int32", shape: [2, 1], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) }],
    ["half", { dtype: "float16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
    ["f64", { dtype: "float64", shape: [1], data: new Float64Array([1 / 3]) }],
    ["mask", { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) }],
  ]);
}

describe("writePth", () => {
  it("round-trips a state dict bit for bit through openPth (every dtype, scalars, empty tensors, key order)", async () => {
    const sd = sample();
    const bytes = writePth(sd);
    const zip = await ZipReader.open(new BufferSource(bytes, "x.pth"));
    expect([...zip.entries.keys()]).toEqual(["archive/data.pkl", ...[...sd.keys()].map((_, i) => `archive/data/${i}`), "archive/byteorder", "archive/version"]);
    const store = await openCheckpoint(bytes);
    expect(store.format).toBe("pth");
    expect(store.keys()).toEqual([...sd.keys()]);
    for (const [k, t] of sd) {
      const got = await store.read(k);
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      );
    }
  });

  it("writes nested values (dicts with integer keys, lists, tuples, None, bools, floats, big ints) that openPth reads back", async () => {
    const t: HostTensor = { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) };
    const value = {
      epoch: 3,
      big: 2n ** 70n,
      neg: -300000,
      lr: 0.5,
      one: new PyFloat(1),
      name: "ünïcode",
      flags: [true, false, null],
      pair: Object.assign(new PyTuple(), [1, 2, 3, 4]),
      state: new Map<number, { exp_avg: HostTensor }>([[0, { exp_avg: t }]]),
    };
    const store = await openPth(new BufferSource(writePth(value as never), "nested.pth"));
    expect(store.keys()).toEqual(["state.0.exp_avg"]);
    expect([...(await store.read("state.0.exp_avg")).data]).toEqual([1, 2]);
    expect(store.metadata.epoch).toBe(3);
    expect(store.metadata.big).toBe(2n ** 70n);
    expect(store.metadata.neg).toBe(-300000);
    expect(store.metadata.lr).toBe(0.5);
    expect(store.metadata.one).toBe(1);
    expect(store.metadata.name).toBe("ünïcode");
    expect(store.metadata.flags).toEqual([true, false, null]);
    expect([...(store.metadata.pair as unknown[])]).toEqual([1, 2, 3, 4]);
  });

  it("writes state dicts of more than 1000 tensors (SETITEMS in batches, as Python's pickler) that torch.load(weights_only=True) reads in order", async () => {
    const sd = new Map<string, HostTensor>();
    for (let i = 0; i < 1203; i++) sd.set(`blocks.${i}.w`, { dtype: "float32", shape: [1], data: new Float32Array([i]) });
    const bytes = writePth(sd);
    const store = await openCheckpoint(bytes);
    expect(store.keys()).toEqual([...sd.keys()]);
    expect([...(await store.read("blocks.1202.w")).data]).toEqual([1202]);
    const dir = mkdtempSync(join(tmpdir(), "pth-write-"));
    try {
      writeFileSync(join(dir, "many.pth"), bytes);
      const out = torchPython(
        `
import sys, torch
sd = torch.load(sys.argv[1], weights_only=True)
print(len(sd), list(sd)[1000], float(sd["blocks.1202.w"][0]), all(float(v[0]) == i for i, v in enumerate(sd.values())))
`,
        join(dir, "many.pth"),
      );
      expect(out.trim()).toBe("1203 blocks.1000.w 1202.0 True");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses what it cannot write with a message naming the tensor", () => {
    expect(() => writePth(new Map([["w", { dtype: "float32", shape: [3], data: new Float32Array(2) }]]))).toThrow(/"?w"?.*8 bytes.*needs 12/);
    expect(() => writePth(new Map(), { archiveName: "../x" })).toThrow(/archive name/);
  });

  it("is read by torch.load(path, weights_only=True) with the same keys, dtypes, shapes and values (PyTorch via /usr/bin/python3)", () => {
    const dir = mkdtempSync(join(tmpdir(), "pth-write-"));
    try {
      const sd = sample();
      const path = join(dir, "w.pth");
      writeFileSync(path, writePth(sd));
      const out = torchPython(
        `
import json, sys, collections, torch
sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
assert type(sd) is collections.OrderedDict, type(sd)
print(json.dumps({"version": torch.__version__, "tensors": [[k, str(v.dtype), list(v.shape), v.double().flatten().tolist() if v.dtype != torch.int64 else [str(x) for x in v.tolist()]] for k, v in sd.items()]}))
`,
        path,
      );
      const got = JSON.parse(out) as { version: string; tensors: [string, string, number[], unknown[]][] };
      console.log(`torch ${got.version} read the file with weights_only=True`);
      expect(got.tensors.map((t) => t[0])).toEqual([...sd.keys()]);
      const dtypes = { float32: "torch.float32", int64: "torch.int64", int32: "torch.int32", float16: "torch.float16", float64: "torch.float64", bool: "torch.bool" } as Record<string, string>;
      for (const [k, dtype, shape, values] of got.tensors) {
        const t = sd.get(k)!;
        expect(dtype).toBe(dtypes[t.dtype]);
        expect(shape).toEqual(t.shape);
        if (t.dtype === "int64") expect(values).toEqual([...(t.data as BigInt64Array)].map(String));
        else if (t.dtype === "float16") expect(values).toEqual([1, -2]);
        else if (t.dtype === "bool") expect(values).toEqual([1, 0, 1]);
        else expect(values).toEqual([...(t.data as Float32Array)]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
