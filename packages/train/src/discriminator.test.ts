/**
 * The VQGAN adversarial term against PyTorch (test-fixtures/train-vqgan, made
 * by tools/fixtures/make_vqgan_reference.py): the patch discriminator's
 * logits, the hinge loss and its gradients in every discriminator weight, the
 * adaptive weight, and the generator loss's gradients in the decoder's last
 * layer and its input. Each case's sizes come from the bundle's meta.json.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Conv2d, fromInternal, type HostTensor, openCheckpoint, registerGradients, toFloat32 } from "@nextscale/core";
import { compare, FIXTURES, report } from "@nextscale/test-utils";
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { generatorLoss, hingeDLoss, PatchDiscriminator, vqganAdaptiveWeight } from "./discriminator.js";

const DIR = join(FIXTURES, "train-vqgan");
const meta = JSON.parse(readFileSync(join(DIR, "meta.json"), "utf8"));
const store = await openCheckpoint(join(DIR, "values.safetensors"));
const read = async (k: string) => toFloat32(await store.read(k));
const shapeOf = (k: string) => [...store.info(k).shape];
const tensor = async (k: string) => tf.tensor(await read(k), shapeOf(k));

interface Case {
  name: string;
  batch: number;
  image: number;
  ndf: number;
  layers: number;
  feat: number;
  l2: number;
  l1: number;
  disc_weight: number;
  disc_factor: number;
  nll: number;
  g_loss: number;
  d_weight: number;
  loss: number;
  d_loss: number;
}

async function build(c: Case) {
  const p = `${c.name}.`;
  const D = new PatchDiscriminator({ ndf: c.ndf, layers: c.layers });
  const sd = new Map<string, HostTensor>();
  for (const k of store.keys().filter((k) => k.startsWith(`${p}D.`))) sd.set(k.slice(`${p}D.`.length), await store.read(k));
  await D.loadStateDict(sd);
  const conv = new Conv2d(c.feat, 3, 3, 1, 1);
  conv.weight.setTorchHost(await read(`${p}conv_out.weight`));
  conv.bias!.setTorchHost(await read(`${p}conv_out.bias`));
  const x = (await tensor(`${p}x`)) as tf.Tensor4D;
  const h = (await tensor(`${p}h`)) as tf.Tensor4D;
  const nllOf = (rec: tf.Tensor4D) =>
    tf.tidy(() => tf.add(tf.mul(tf.mean(tf.squaredDifference(rec, x)), c.l2), tf.mul(tf.mean(tf.abs(tf.sub(rec, x))), c.l1)) as tf.Scalar);
  return { p, D, conv, x, h, nllOf, dispose: () => tf.dispose([x, h, ...[D, conv].flatMap((m) => m.namedParameters().map(([, q]) => q.value))]) };
}

describe("the VQGAN adversarial term = PyTorch (patch discriminator, hinge loss, adaptive weight)", () => {
  beforeAll(() => registerGradients());

  for (const c of meta.cases as Case[]) {
    it(`${c.name}: discriminator logits, d_loss and its gradients in every weight (B ${c.batch}, ${c.image} px, ndf ${c.ndf}, ${c.layers} layers)`, async () => {
      const m = await build(c);
      const before = tf.memory().numTensors;
      const real = m.D.forward(m.x);
      const fake = tf.tidy(() => m.D.forward(m.conv.forward(m.h)));
      const lr = compare(await real.data(), await read(`${m.p}logits_real`));
      const lf = compare(await fake.data(), await read(`${m.p}logits_fake`));
      report(`train-vqgan/${c.name}`, `logits of real images (${tf.getBackend()})`, lr);
      report(`train-vqgan/${c.name}`, "logits of reconstructions", lf);
      expect(real.shape).toEqual(shapeOf(`${m.p}logits_real`));
      expect(lr.scaledMax).toBeLessThan(1e-5);
      expect(lf.scaledMax).toBeLessThan(1e-5);
      tf.dispose([real, fake]);

      const vars = m.D.namedParameters();
      const { value, grads } = tf.variableGrads(() => {
        const rec = m.conv.forward(m.h);
        return tf.mul(hingeDLoss(m.D.forward(m.x), m.D.forward(rec)), c.disc_factor) as tf.Scalar;
      }, vars.map(([, q]) => q.value));
      const dLoss = (await value.data())[0];
      console.log(`[vqgan] ${c.name} d_loss ${dLoss} (PyTorch ${c.d_loss})`);
      expect(Math.abs(dLoss - c.d_loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(c.d_loss)));
      let worst = 0;
      for (const [k, q] of vars) {
        const g = fromInternal(grads[q.value.name], q.opts.layout);
        worst = Math.max(worst, compare(await g.data(), await read(`${m.p}dgrad.${k}`)).scaledMax);
        g.dispose();
      }
      console.log(`[vqgan] ${c.name} d_loss gradients, ${vars.length} weights: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-4);
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });

    it(`${c.name}: adaptive weight and the generator loss's gradients in conv_out and its input`, async () => {
      const m = await build(c);
      const lambda = vqganAdaptiveWeight(m.conv, m.D, m.h, m.nllOf, c.disc_weight);
      const lam = (await lambda.data())[0];
      console.log(`[vqgan] ${c.name} adaptive weight ${lam} (PyTorch ${c.d_weight}, rel err ${(Math.abs(lam - c.d_weight) / c.d_weight).toExponential(2)})`);
      expect(Math.abs(lam - c.d_weight) / c.d_weight).toBeLessThan(1e-5);

      const hv = tf.variable(m.h);
      const { value, grads } = tf.variableGrads(() => {
        const rec = m.conv.forward(hv as unknown as tf.Tensor4D);
        const g = generatorLoss(m.D.forward(rec));
        return tf.add(m.nllOf(rec), tf.mul(g, tf.mul(lambda, c.disc_factor))) as tf.Scalar;
      }, [m.conv.weight.value, m.conv.bias!.value, hv]);
      const loss = (await value.data())[0];
      expect(Math.abs(loss - c.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(c.loss)));
      const gW = fromInternal(grads[m.conv.weight.value.name], "conv2d-hwio");
      const eW = compare(await gW.data(), await read(`${m.p}grad.conv_out.weight`));
      const eb = compare(await grads[m.conv.bias!.value.name].data(), await read(`${m.p}grad.conv_out.bias`));
      const eh = compare(await grads[hv.name].data(), await read(`${m.p}grad.h`));
      report(`train-vqgan/${c.name}`, "d loss / d conv_out.weight", eW);
      report(`train-vqgan/${c.name}`, "d loss / d conv_out.bias", eb);
      report(`train-vqgan/${c.name}`, "d loss / d features", eh);
      for (const e of [eW, eb, eh]) expect(e.scaledMax).toBeLessThan(1e-4);
      tf.dispose([value, lambda, gW, hv, ...Object.values(grads)]);
      m.dispose();
    });
  }

  it("refuses images too small for its layers, naming how many would fit", () => {
    const D = new PatchDiscriminator({ ndf: 4, layers: 3 });
    expect(D.outputSide(28)).toBe(1);
    expect(() => D.checkImageSide(16)).toThrow(/needs larger images than 16×16 \(at most 2 layers at this size\)/);
    expect(() => new PatchDiscriminator({ layers: 0 })).toThrow(/layers must be a positive integer/);
  });
});
