import { openCheckpoint, StateDictError, type TensorStore, toFloat32, writeSafetensors } from "@nextscale/core";
import { compare, fidBundles, report } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FidInceptionV3, legacyBilinearMatrix, loadFidInception } from "./fid-inception.js";
import { hashedInceptionWeights } from "./hashed-weights.js";

/** Rows minus their mean over the batch (N × d). */
function deviation(x: Float32Array, d: number): Float64Array {
  const n = x.length / d;
  const out = new Float64Array(x.length);
  for (let j = 0; j < d; j++) {
    let m = 0;
    for (let r = 0; r < n; r++) m += x[r * d + j];
    m /= n;
    for (let r = 0; r < n; r++) out[r * d + j] = x[r * d + j] - m;
  }
  return out;
}

describe("FID Inception structure", () => {
  it("preprocesses like pytorch-fid (default) or like the TF graph of OpenAI's evaluator", async () => {
    // TF1 legacy bilinear: source o·in/out, no half-pixel centres
    expect(Array.from(legacyBilinearMatrix(4, 2))).toEqual([1, 0, 0, 0, 0, 0, 1, 0]);
    expect(Array.from(legacyBilinearMatrix(2, 4))).toEqual([1, 0, 0.5, 0.5, 0, 1, 0, 1]);
    const net = new FidInceptionV3();
    const x = tf.fill([1, 299, 299, 3], 0.25) as tf.Tensor4D;
    expect((await net.preprocess(x, "tf").data())[0]).toBeCloseTo((0.25 * 255 - 128) / 128, 6);
    expect((await net.preprocess(x).data())[0]).toBeCloseTo(-0.5, 6);
    const small = tf.tile(tf.tensor4d([0, 1, 0, 1], [1, 2, 2, 1]), [1, 1, 1, 3]) as tf.Tensor4D;
    expect(net.preprocess(small, "tf").shape).toEqual([1, 299, 299, 3]);
  });

  it("refuses weights with missing, unexpected or mis-shaped keys in one clear error", async () => {
    const keys = Object.entries(new FidInceptionV3().stateDictShapes());
    const w = hashedInceptionWeights(keys.filter(([k]) => k !== "Mixed_6d.branch1x1.bn.running_var"));
    w.set("AuxLogits.fc.weight", { dtype: "float32", shape: [1], data: new Float32Array(1) });
    const err = await loadFidInception(w).catch((e) => e);
    expect(err).toBeInstanceOf(StateDictError);
    expect(err.message).toMatch(/pt_inception-2015-12-05-6726825d\.pth/);
    expect(err.message).toMatch(/missing keys \(1\): Mixed_6d\.branch1x1\.bn\.running_var/);
    expect(err.message).toMatch(/unexpected keys \(1\): AuxLogits\.fc\.weight/);
    // BatchNorm step counters of a newer torch.save are ignored
    const ok = hashedInceptionWeights(keys);
    ok.set("Conv2d_1a_3x3.bn.num_batches_tracked", { dtype: "int64", shape: [], data: BigInt64Array.of(0n) });
    const net = await loadFidInception(ok);
    expect(() => net.forward(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).toThrow(/too small/);
    expect(() => net.forward(tf.zeros([1, 32, 32, 4]) as tf.Tensor4D)).toThrow(/\(B, H, W, 3\)/);
    net.dispose();
  });

  it("has exactly the state-dict keys and shapes of pt_inception-2015-12-05-6726825d.pth", () => {
    for (const bundle of fidBundles()) {
      const mine = Object.entries(new FidInceptionV3().stateDictShapes()).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      expect(mine).toEqual(bundle.meta.weight_keys);
    }
  });
});

for (const bundle of fidBundles()) {
  describe(`FID Inception on bundle ${bundle.name}`, () => {
    let io: TensorStore;
    let net: FidInceptionV3;
    const keys = bundle.meta.weight_keys as [string, number[]][];
    beforeAll(async () => {
      io = await openCheckpoint(bundle.file("io.safetensors"));
      // the hashed weights go through a checkpoint file and the by-name loader, as a real .pth does
      const store = await openCheckpoint(writeSafetensors(hashedInceptionWeights(keys)));
      net = await loadFidInception(store);
      await store.close();
    });
    afterAll(async () => {
      net?.dispose();
      await io?.close();
    });

    it("the hashed weight generator reproduces meta.json first_values", () => {
      const w = hashedInceptionWeights(keys);
      for (const [k, want] of Object.entries(bundle.meta.first_values as Record<string, number[]>)) {
        expect(Array.from((w.get(k)!.data as Float32Array).subarray(0, want.length)), k).toEqual(want.map(Math.fround));
      }
    });

    const inputs = Object.keys(bundle.meta.tensors as Record<string, number[]>).filter((k) => k.endsWith("_N3HW"));
    for (const input of inputs) {
      const stem = input.replace(/_N3HW$/, "");
      it(`${stem}: pool3 and logits within 1e-4 relative (also their deviation from the batch mean)`, async () => {
        const host = toFloat32(await io.read(input));
        const x = tf.tidy(() => tf.transpose(tf.tensor4d(host, io.info(input).shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D; // NCHW -> NHWC
        const t0 = performance.now();
        const out = net.forward(x, { logits: true, spatial: true });
        const pool3 = (await out.pool3.data()) as Float32Array;
        const logits = await net.hostLogits(pool3); // what the Inception Score uses
        const device = compare((await out.logits!.data()) as Float32Array, logits);
        const ms = performance.now() - t0;
        const N = x.shape[0];
        expect(out.spatial!.shape).toEqual([N, 17 * 17 * 7]);
        tf.dispose([x, out.pool3, out.logits!, out.spatial!]);
        console.log(`${bundle.name} ${stem}: ${N} images ${x.shape[1]}×${x.shape[2]} → forward in ${ms.toFixed(0)} ms on ${tf.getBackend()}`);
        // the device's float32 fc agrees with the float64 host fc to float32 accuracy
        report(bundle.name, `${stem} device fc vs host fc`, device);
        expect(device.scaledMax).toBeLessThan(1e-5);
        for (const [what, got, d] of [
          ["pool3", pool3, 2048],
          ["logits1008", logits, 1008],
        ] as const) {
          const want = toFloat32(await io.read(`${stem}_${what}`));
          const s = compare(got, want);
          report(bundle.name, `${stem}_${what}`, s);
          expect(s.scaledMax).toBeLessThan(1e-4);
          const sd = compare(deviation(got, d), deviation(want, d));
          report(bundle.name, `${stem}_${what} minus batch mean`, sd);
          expect(sd.scaledMax).toBeLessThan(1e-4);
        }
      });
    }
  });
}

