import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import { openCheckpoint } from "./io/checkpoint.js";
import { type HostTensor, toFloat32 } from "./io/dtype.js";
import { Module, ModuleList, StateDictError } from "./module.js";
import { Conv2d, LayerNorm, Linear } from "./nn.js";

class Block extends Module {
  fc1 = this.child("fc1", new Linear(4, 8));
  fc2 = this.child("fc2", new Linear(8, 4, false));
}
class Net extends Module {
  conv = this.child("conv", new Conv2d(3, 2, 3, 1, 1));
  blocks = this.child("blocks", new ModuleList([new Block(), new Block()]));
  norm = this.child("norm", new LayerNorm(4, 1e-6, false));
  scale = this.param("scale", [1, 2, 1, 1]);
}

const f32 = (shape: number[], f: (i: number) => number): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: "float32", shape, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
};

function fullStateDict(): Map<string, HostTensor> {
  const net = new Net();
  return new Map(Object.entries(net.stateDictShapes()).map(([k, s], j) => [k, f32(s, (i) => j + i / 100)]));
}

describe("Module tree", () => {
  it("uses PyTorch state-dict names in registration order", () => {
    expect(Object.keys(new Net().stateDictShapes())).toEqual([
      "scale",
      "conv.weight",
      "conv.bias",
      "blocks.0.fc1.weight",
      "blocks.0.fc1.bias",
      "blocks.0.fc2.weight",
      "blocks.1.fc1.weight",
      "blocks.1.fc1.bias",
      "blocks.1.fc2.weight",
    ]);
    expect(new Net().numParameters()).toBe(2 + 54 + 2 + 2 * (32 + 8 + 32));
  });

  it("loadStateDict then stateDict returns the same values, conv kept HWIO inside", async () => {
    const sd = fullStateDict();
    const net = new Net();
    await net.loadStateDict(sd);
    expect(net.conv.weight.value.shape).toEqual([3, 3, 3, 2]);
    const back = await net.stateDict();
    for (const [k, t] of sd) {
      expect(back.get(k)!.shape).toEqual(t.shape);
      expect(Array.from(back.get(k)!.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    }
    net.dispose();
  });

  it("reports missing, unexpected and mismatched keys in one error", async () => {
    const sd = fullStateDict();
    sd.delete("blocks.1.fc1.bias");
    sd.set("blocks.2.fc1.weight", f32([8, 4], () => 0));
    sd.set("conv.weight", f32([2, 3, 5, 5], () => 0));
    const err = await new Net().loadStateDict(sd).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDictError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/missing keys \(1\): blocks\.1\.fc1\.bias/);
    expect(msg).toMatch(/unexpected keys \(1\): blocks\.2\.fc1\.weight/);
    expect(msg).toMatch(/shape mismatches \(1\): conv\.weight expected \[2,3,3,3\] found \[2,3,5,5\]/);
    console.log(msg);
  });

  it("strict: false tolerates missing/unexpected keys but never a wrong shape", async () => {
    const sd = fullStateDict();
    sd.delete("scale");
    sd.set("extra", f32([1], () => 0));
    const net = new Net();
    const problems = await net.loadStateDict(sd, { strict: false });
    expect(problems.missing).toEqual(["scale"]);
    expect(problems.unexpected).toEqual(["extra"]);
    expect(() => net.scale.value).toThrow(/has no value/);
    sd.set("conv.bias", f32([3], () => 0));
    await expect(new Net().loadStateDict(sd, { strict: false })).rejects.toThrow(/conv\.bias expected \[2\] found \[3\]/);
  });

  it("loads a real checkpoint lazily through a TensorStore (prefix filter)", async () => {
    const store = await openCheckpoint(join(FIXTURES, "var-tiny", "var.pth"));
    class Head extends Module {
      head = this.child("head", new Linear(store.info("head.weight").shape[1], store.info("head.weight").shape[0]));
    }
    const m = new Head();
    const problems = await m.loadStateDict(store, { strict: false });
    expect(problems.missing).toEqual([]);
    const want = toFloat32(await store.read("head.weight"));
    const got = m.head.weight.toTorch();
    expect(m.head.weight.value.shape).toEqual([...m.head.weight.shape].reverse()); // kept (in, out) inside
    expect(Array.from(await got.data())).toEqual(Array.from(want));
    got.dispose();
    await store.close();
  });

  it("layers compute what PyTorch computes (Linear, Conv2d padding, LayerNorm)", async () => {
    const lin = new Linear(2, 2);
    await lin.loadStateDict(new Map([["weight", f32([2, 2], (i) => [1, 2, 3, 4][i])], ["bias", f32([2], (i) => [0.5, -1][i])]]));
    expect(Array.from(await lin.forward(tf.tensor2d([[1, 1]])).data())).toEqual([3.5, 6]);
    const conv = new Conv2d(1, 1, 3, 1, 1);
    await conv.loadStateDict(new Map([["weight", f32([1, 1, 3, 3], () => 1)], ["bias", f32([1], () => 0)]]));
    const y = conv.forward(tf.ones([1, 3, 3, 1]) as tf.Tensor4D);
    expect(Array.from(await y.data())).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4]);
    // a 1×3 kernel with (0, 1) padding, as Inception's factorised convolutions
    const rect = new Conv2d(1, 1, [1, 3], 1, [0, 1], false);
    expect(rect.stateDictShapes()).toEqual({ weight: [1, 1, 1, 3] });
    await rect.loadStateDict(new Map([["weight", f32([1, 1, 1, 3], (i) => [1, 10, 100][i])]]));
    const r = rect.forward(tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]));
    expect(Array.from(await r.data())).toEqual([210, 321, 32, 540, 654, 65]);
    const ln = new LayerNorm(2, 0, false);
    expect(Array.from(await ln.forward(tf.tensor2d([[1, 3]])).data())).toEqual([-1, 1]);
  });
});
