/**
 * Parity with the official PyTorch VQ-VAE on every reference bundle
 * (configuration read from each bundle's meta.json). Prints the bundle name
 * and the measured max errors.
 */
import { fromInternal, openCheckpoint, type TensorStore, toFloat32, toInt32 } from "@nextscale/core";
import { type Bundle, compare, referenceBundles, report } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inferVqvaeConfig, vqvaeConfigFromKwargs } from "./config.js";
import { phiIndexPerScale } from "./phi.js";
import { loadVqvae, type VQVAE } from "./vqvae.js";

const TOL = 1e-3; // abs on images/latents, relative on losses and gradients
/** Below this reference gap, a nearest-code decision may flip between float32 implementations (REFERENCE-BUNDLES.md). */
const NEAR_TIE = 1e-3;

async function read(io: TensorStore, name: string): Promise<tf.Tensor> {
  const h = await io.read(name);
  return h.dtype === "int64" || h.dtype === "int32" ? tf.tensor(toInt32(h), h.shape, "int32") : tf.tensor(toFloat32(h), h.shape, "float32");
}
/** A reference NCHW tensor as NHWC. */
async function readNhwc(io: TensorStore, name: string): Promise<tf.Tensor4D> {
  const t = await read(io, name);
  const r = tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
  t.dispose();
  return r;
}
const data = async (t: tf.Tensor) => (await t.data()) as Float32Array;

const bundles = referenceBundles();

describe.each(bundles.map((b) => [b.name, b] as [string, Bundle]))("VQ-VAE parity on %s", (name, bundle) => {
  const patchNums: number[] = bundle.meta.var?.patch_nums ?? bundle.meta.config.patch_nums;
  const K = patchNums.length;
  const gaps: number[] = bundle.meta.quantisation_min_distance_gap_per_scale;
  let vae: VQVAE;
  let io: TensorStore;
  let img: tf.Tensor4D;
  let refIdx: tf.Tensor[];

  beforeAll(async () => {
    vae = await loadVqvae(bundle.file("vae.pth"), { patchNums });
    io = await openCheckpoint(bundle.file("io.safetensors"));
    img = await readNhwc(io, "img_B3HW");
    refIdx = await Promise.all(patchNums.map((_, k) => read(io, `idx_s${k}`)));
  });
  afterAll(async () => {
    vae.dispose();
    tf.dispose([img, ...refIdx]);
    await io.close();
  });

  it("has the configuration of meta.json (inferred from the checkpoint's shapes)", () => {
    expect(vae.config).toEqual(vqvaeConfigFromKwargs(bundle.meta.vqvae, patchNums));
    expect(inferVqvaeConfig(vae.stateDictShapes(), { patchNums })).toEqual(vae.config);
    console.log(`[info] ${name}: patch_nums [${patchNums}], φ per scale [${phiIndexPerScale(vae.config)}]`);
  });

  it("encodes: enc_f_BChw", async () => {
    const f = vae.encode(img);
    const want = await readNhwc(io, "enc_f_BChw");
    const s = compare(await data(f), await data(want));
    report(name, "enc_f_BChw", s);
    expect(s.maxAbs).toBeLessThan(TOL);
    tf.dispose([f, want]);
  });

  it("quantizes to idx_s* (exactly; near-tie rule) and f̂ per scale fhat_s*", async () => {
    const idx = vae.imageToIndices(img);
    let allEqual = true;
    for (let k = 0; k < K; k++) {
      const got = (await idx[k].data()) as Int32Array;
      const want = (await refIdx[k].data()) as Int32Array;
      expect(idx[k].shape).toEqual(refIdx[k].shape);
      const diff = got.reduce((n, v, i) => n + (v !== want[i] ? 1 : 0), 0);
      console.log(`[parity] ${name} idx_s${k}: ${diff} of ${got.length} differ (reference min distance gap ${gaps[k].toExponential(2)})`);
      // Decisions may flip only where the reference itself was within a near-tie; then later scales legitimately differ.
      if (gaps[k] >= NEAR_TIE && allEqual) expect(diff).toBe(0);
      if (diff) allEqual = false;
    }
    const fHats = vae.fHatPerScale(img);
    for (let k = 0; k < K; k++) {
      const want = await readNhwc(io, `fhat_s${k}`);
      const s = compare(await data(fHats[k]), await data(want));
      report(name, `fhat_s${k} (own indices)`, s);
      if (allEqual) expect(s.maxAbs).toBeLessThan(TOL);
      want.dispose();
    }
    // Forced to the reference indices, f̂ must match whatever the decisions above.
    const forced = vae.indicesToFHat(refIdx, { allScales: true });
    for (let k = 0; k < K; k++) {
      const want = await readNhwc(io, `fhat_s${k}`);
      const s = compare(await data(forced[k]), await data(want));
      report(name, `fhat_s${k} (reference indices)`, s);
      expect(s.maxAbs).toBeLessThan(TOL);
      want.dispose();
    }
    tf.dispose([...idx, ...fHats, ...forced]);
  });

  it("decodes: rec_last (from f̂) and dec_from_idx (from the reference indices)", async () => {
    const fHat = vae.indicesToFHat(refIdx)[0];
    const rec = vae.decode(fHat);
    const wantRec = await readNhwc(io, "rec_last");
    const s1 = compare(await data(rec), await data(wantRec));
    report(name, "rec_last", s1);
    expect(s1.maxAbs).toBeLessThan(TOL);
    const fromIdx = vae.indicesToImage(refIdx);
    const wantIdx = await readNhwc(io, "dec_from_idx");
    const s2 = compare(await data(fromIdx), await data(wantIdx));
    report(name, "dec_from_idx", s2);
    expect(s2.maxAbs).toBeLessThan(TOL);
    // the full reconstruct path agrees with encode -> indices -> decode
    const recon = vae.reconstruct(img);
    const s3 = compare(await data(recon), await data(wantRec));
    report(name, "reconstruct(img) vs rec_last", s3);
    expect(s3.maxAbs).toBeLessThan(TOL);
    const previews = vae.indicesToImage(refIdx, { allScales: true });
    expect(previews.length).toBe(K);
    expect(compare(await data(previews[K - 1]), await data(fromIdx)).maxAbs).toBe(0);
    tf.dispose([fHat, rec, wantRec, fromIdx, wantIdx, recon, ...previews]);
  });

  it("builds the teacher-forcing input var_input_BLCv", async () => {
    const got = vae.indicesToVarInput(refIdx);
    const want = await read(io, "var_input_BLCv");
    expect(got.shape).toEqual(want.shape);
    const s = compare(await data(got), await data(want));
    report(name, "var_input_BLCv", s);
    expect(s.maxAbs).toBeLessThan(TOL);
    tf.dispose([got, want]);
  });

  it("trains: train_vq_loss, train_rec_loss, train_rec_B3HW and grad_vae.* through tfjs autograd", async () => {
    const gradNames = io.keys().filter((k) => k.startsWith("grad_vae."));
    expect(gradNames.length).toBeGreaterThan(0);
    const params = new Map(vae.namedParameters());
    const vars = gradNames.map((g) => {
      const p = params.get(g.slice("grad_vae.".length));
      if (!p) throw new Error(`${g}: no such parameter`);
      return p;
    });
    // Large bundles (256 px: the tape of a batch of two passes the 4 GB wasm heap) run one image per tape:
    // both losses are means over equal-sized images, so the batch's gradient is the mean of the images'.
    const B = img.shape[0];
    const parts = img.shape[1] >= 128 ? B : 1;
    let vqSum = 0;
    let recSum = 0;
    const recImgs: tf.Tensor[] = [];
    let grads: tf.NamedTensorMap = {};
    let value: tf.Scalar = tf.scalar(0);
    for (let k = 0; k < parts; k++) {
      const x = parts === 1 ? img : (tf.slice(img, [k, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D);
      let kept: { vq: tf.Tensor; rec: tf.Tensor } | undefined;
      const r = tf.variableGrads(() => {
        const o = vae.forwardTrain(x);
        kept = { vq: tf.keep(o.vqLoss), rec: tf.keep(o.recLoss) };
        recImgs.push(tf.keep(o.rec));
        return o.loss;
      }, vars.map((p) => p.value));
      vqSum += (await kept!.vq.data())[0];
      recSum += (await kept!.rec.data())[0];
      tf.dispose([kept!.vq, kept!.rec]);
      if (x !== img) x.dispose();
      const prev = { grads, value };
      grads = tf.tidy(() => Object.fromEntries(Object.entries(r.grads).map(([n, g]) => [n, prev.grads[n] ? tf.add(prev.grads[n], tf.div(g, parts)) : tf.div(g, parts)])));
      value = tf.tidy(() => tf.add(prev.value, tf.div(r.value, parts)) as tf.Scalar);
      tf.dispose([r.value, prev.value, ...Object.values(r.grads), ...Object.values(prev.grads)]);
    }
    const out = { vq: vqSum / parts, rec: recSum / parts, recImg: recImgs.length === 1 ? recImgs[0] : tf.concat(recImgs, 0) };
    if (recImgs.length > 1) tf.dispose(recImgs);
    if (parts > 1) console.log(`[parity] ${name}: ${img.shape[1]} px, one image per gradient tape (${parts} tapes, gradients averaged)`);
    const scalar = async (key: string) => {
      const t = await read(io, key);
      const [v] = await t.data();
      t.dispose();
      return v;
    };
    const wantVq = await scalar("train_vq_loss");
    const wantRec = await scalar("train_rec_loss");
    const relVq = Math.abs(out.vq - wantVq) / Math.abs(wantVq);
    const relRec = Math.abs(out.rec - wantRec) / Math.abs(wantRec);
    console.log(`[parity] ${name} train_vq_loss: got ${out.vq} want ${wantVq} rel ${relVq.toExponential(3)}`);
    console.log(`[parity] ${name} train_rec_loss: got ${out.rec} want ${wantRec} rel ${relRec.toExponential(3)}`);
    expect(relVq).toBeLessThan(TOL);
    expect(relRec).toBeLessThan(TOL);
    expect(Math.abs((await value.data())[0] - (wantVq + wantRec)) / (wantVq + wantRec)).toBeLessThan(TOL);
    if (io.has("train_rec_B3HW")) {
      const want = await readNhwc(io, "train_rec_B3HW");
      const s = compare(await data(out.recImg), await data(want));
      report(name, "train_rec_B3HW", s);
      expect(s.maxAbs).toBeLessThan(TOL);
      want.dispose();
    }
    for (let i = 0; i < vars.length; i++) {
      const g = fromInternal(grads[vars[i].value.name], vars[i].opts.layout);
      const want = await read(io, gradNames[i]);
      expect(g.shape).toEqual(want.shape);
      const s = compare(await data(g), await data(want));
      report(name, gradNames[i], s);
      expect(s.scaledMax).toBeLessThan(TOL); // relative to the gradient's scale
      tf.dispose([g, want]);
    }
    tf.dispose([value, out.recImg, ...Object.values(grads)]);
  });
});
