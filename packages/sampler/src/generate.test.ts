import * as tf from "@tensorflow/tfjs-core";
import { openCheckpoint, packedWeightCount, type TensorStore, toFloat32, toInt32 } from "@nextscale/core";
import { type Bundle, compare, referenceBundles, report } from "@nextscale/test-utils";
import { loadVqvae, type VQVAE } from "@nextscale/tokenizer";
import { VarTransformer } from "@nextscale/transformer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KeepMask, scaleKeepMask } from "./edit-mask.js";
import { gaps, nchwToNhwc } from "./parity.testutil.js";
import { generate, type ScaleProgress } from "./generate.js";

const TOL = 1e-3;
const GAP = 1e-3;
const cfgKey = (c: number) => `cfg${String(c).replace(".", "p")}`;

async function hostTensor(io: TensorStore, k: string) {
  const t = await io.read(k);
  return { shape: t.shape, f32: toFloat32(t), i32: t.dtype.startsWith("float") ? undefined : toInt32(t) };
}

for (const bundle of referenceBundles()) {
  describe(`sampler parity on ${bundle.name}`, () => {
    let vae: VQVAE;
    let model: VarTransformer;
    let io: TensorStore;
    let labels: Int32Array;
    let patchNums: number[];
    beforeAll(async () => {
      patchNums = bundle.meta.var.patch_nums;
      // packed for inference, as loadModels (generate, edit, bench) loads them: on wasm the products then run
      // on XNNPACK's packed copies only (the transformer and tokenizer suites cover the unpacked weights)
      vae = await loadVqvae(bundle.file("vae.pth"), { patchNums, pack: true });
      const store = await openCheckpoint(bundle.file("var.pth"));
      model = await VarTransformer.fromCheckpoint(store, { pack: true });
      await store.close();
      console.log(`${bundle.name}: ${packedWeightCount(vae) + packedWeightCount(model)} weights packed for inference on ${tf.getBackend()}`);
      io = await openCheckpoint(bundle.file("io.safetensors"));
      labels = toInt32(await io.read("label_B"));
    });
    afterAll(async () => {
      vae.dispose();
      model.dispose();
      await io.close();
    });

    const cfgs: number[] = bundle.meta.config.cfgs;
    for (const c of cfgs) {
      const key = cfgKey(c);
      it(`guidance ${c}: reference tokens forced at every scale -> every scale's logits and the image match`, async () => {
        const K = patchNums.length;
        const P = patchNums[K - 1];
        const indices = await Promise.all(patchNums.map(async (_, k) => tf.tensor2d(toInt32(await io.read(`ar_${key}_idx_s${k}`)), [labels.length, patchNums[k] ** 2], "int32")));
        const mask: KeepMask = { size: P, data: new Float32Array(P * P).fill(1) };
        const seen: ScaleProgress["logits"][] = [];
        const res = await generate(vae, model, { labels, cfg: c, topK: 1, keep: { indices, mask }, onProgress: (p) => void seen.push(p.logits) });
        for (let k = 0; k < K; k++) {
          const want = await hostTensor(io, `ar_${key}_logits_s${k}`);
          const s = compare(seen[k], want.f32);
          report(bundle.name, `${key} forced logits s${k}`, s);
          expect(s.maxAbs).toBeLessThan(TOL);
        }
        const img = await hostTensor(io, `ar_${key}_img_B3HW`);
        const s = compare(await res.images.data(), nchwToNhwc(img.f32, img.shape));
        report(bundle.name, `${key} forced image`, s);
        expect(s.maxAbs).toBeLessThan(TOL);
        tf.dispose([...indices, ...res.indices, res.images, res.fHat]);
      });

      it(`guidance ${c}: keep.scales forces the first scales only -> their tokens and the next scale's logits match, later tokens are drawn`, async () => {
        const K = patchNums.length;
        const P = patchNums[K - 1];
        const s = Math.max(1, Math.floor(K / 2));
        const want = await Promise.all(patchNums.map(async (_, k) => toInt32(await io.read(`ar_${key}_idx_s${k}`))));
        const indices = want.map((w, k) => tf.tensor2d(w, [labels.length, patchNums[k] ** 2], "int32"));
        const mask: KeepMask = { size: P, data: new Float32Array(P * P).fill(1) };
        for (const bad of [0, K + 1, 1.5]) {
          await expect(generate(vae, model, { labels, cfg: c, keep: { indices, mask, scales: bad } })).rejects.toThrow(/keep\.scales must be an integer from 1 to/);
        }
        const seen: ScaleProgress["logits"][] = [];
        // drawn from the whole distribution (no top-k/top-p), so the free scales leave the greedy reference's tokens
        const res = await generate(vae, model, { labels, cfg: c, topK: 0, topP: 0, seed: 7, keep: { indices, mask, scales: s }, onProgress: (p) => void seen.push(p.logits) });
        for (let k = 0; k <= s && k < K; k++) {
          const r = compare(seen[k], (await hostTensor(io, `ar_${key}_logits_s${k}`)).f32);
          report(bundle.name, `${key} logits s${k} with the first ${s} scales kept`, r);
          expect(r.maxAbs).toBeLessThan(TOL);
        }
        let free = 0;
        let changed = 0;
        for (let k = 0; k < K; k++) {
          const got = await res.indices[k].data();
          if (k < s) expect(Array.from(got)).toEqual(Array.from(want[k]));
          else {
            free += got.length;
            for (let i = 0; i < got.length; i++) if (got[i] !== want[k][i]) changed++;
          }
        }
        console.log(`${bundle.name} ${key}: first ${s} of ${K} scales kept; ${changed} of ${free} later tokens differ from the reference's`);
        if (s < K) expect(changed).toBeGreaterThan(0);
        tf.dispose([...indices, ...res.indices, res.images, res.fHat]);
      });

      it(`guidance ${c}: free greedy run -> indices equal the reference where its gap > 1e-3`, async () => {
        const V = bundle.meta.var.vocab_size ?? bundle.meta.vqvae.vocab_size;
        const res = await generate(vae, model, { labels, cfg: c, topK: 1 });
        let allEqual = true;
        let compared = 0;
        let skippedNearTies = 0;
        for (let k = 0; k < patchNums.length; k++) {
          const want = toInt32(await io.read(`ar_${key}_idx_s${k}`));
          const g = gaps((await hostTensor(io, `ar_${key}_logits_s${k}`)).f32, V);
          const got = await res.indices[k].data();
          let flipped = false;
          for (let i = 0; i < want.length; i++) {
            if (got[i] !== want[i]) allEqual = false;
            if (g[i] <= GAP) {
              skippedNearTies++;
              if (got[i] !== want[i]) flipped = true;
              continue;
            }
            compared++;
            expect(got[i], `scale ${k} token ${i} (reference gap ${g[i].toExponential(2)})`).toBe(want[i]);
          }
          // After a near-tie decision went the other way, later scales see other tokens: stop comparing.
          if (flipped) {
            console.log(`[parity] ${bundle.name} ${key}: a near-tie decision flipped at scale ${k}; later scales not compared`);
            break;
          }
        }
        console.log(`[parity] ${bundle.name} ${key} free run: ${compared} decisions compared, ${skippedNearTies} near-ties (gap <= 1e-3) exempt, all equal: ${allEqual}`);
        if (allEqual) {
          const img = await hostTensor(io, `ar_${key}_img_B3HW`);
          const s = compare(await res.images.data(), nchwToNhwc(img.f32, img.shape));
          report(bundle.name, `${key} free-run image`, s);
          expect(s.maxAbs).toBeLessThan(TOL);
        }
        tf.dispose([...res.indices, res.images, res.fHat]);
      });
    }

    it("in-painting (guidance 2, greedy) matches inpaint_cfg2_img_B3HW unless a generated token was a near-tie", async (ctx) => {
      if (!io.has("inpaint_cfg2_img_B3HW")) return ctx.skip();
      const V = bundle.meta.var.vocab_size ?? bundle.meta.vqvae.vocab_size;
      const maskT = await hostTensor(io, "inpaint_mask_hw");
      const mask: KeepMask = { size: maskT.shape[0], data: maskT.f32 };
      const B = labels.length;
      const indices = await Promise.all(patchNums.map(async (pn, k) => tf.tensor2d(toInt32(await io.read(`idx_s${k}`)), [B, pn * pn], "int32")));
      // the greedy decisions at generated tokens (where the per-scale mask, as the official code computes it for
      // this batch size, does not keep the source): a near-tie there may go either way, and everything after it
      // differs. The reference has only the final image: it must match, unless a decision was a near-tie (then a
      // difference is reported with the ties, as the free run stops comparing after a flipped near-tie)
      const nearTies: string[] = [];
      let generated = 0;
      const res = await generate(vae, model, {
        labels,
        cfg: 2,
        topK: 1,
        keep: { indices, mask },
        onProgress: (p) => {
          const keepK = scaleKeepMask(mask, p.patchNum, B);
          const g = gaps(p.logits, V);
          for (let i = 0; i < g.length; i++) {
            if (keepK[i % keepK.length]) continue;
            generated++;
            if (g[i] <= GAP) nearTies.push(`scale ${p.scale} token ${i} (gap ${g[i].toExponential(2)})`);
          }
        },
      });
      const img = await hostTensor(io, "inpaint_cfg2_img_B3HW");
      const s = compare(await res.images.data(), nchwToNhwc(img.f32, img.shape));
      report(bundle.name, "inpaint cfg2 image", s);
      const ties = nearTies.length ? `: ${nearTies.slice(0, 5).join(", ")}` : "";
      console.log(`[parity] ${bundle.name} inpaint cfg2: ${generated} generated tokens, ${nearTies.length} near-ties (gap <= 1e-3)${ties}`);
      if (s.maxAbs >= TOL && nearTies.length) {
        console.log(`[parity] ${bundle.name} inpaint cfg2: the image differs after a near-tie decision; not compared further`);
      } else {
        expect(s.maxAbs).toBeLessThan(TOL);
      }
      tf.dispose([...indices, ...res.indices, res.images, res.fHat]);
    });
  });
}

describe("bundles", () => {
  it("at least the fixtures' bundles were found", () => {
    const names = referenceBundles().map((b: Bundle) => b.name);
    expect(names).toEqual(expect.arrayContaining(["var-tiny", "var-tiny-saln"]));
  });
});
