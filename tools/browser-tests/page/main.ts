/**
 * The page the browser smoke test loads: initialise the backend it is asked
 * for, then run a Linear and a Conv2d with known weights, unpacked and
 * packed for inference, and hand back what they computed, what the
 * backend reported and what a model name resolves to (core's browser build
 * of the model cache). The test (src/browser.test.ts) checks them.
 */
import { type BackendName, backendInfo, initBackend } from "@nextscale/backends";
import { cachedModelPath, Conv2d, Linear, Module, packedWeightCount, packForInference, resolveModel } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";

class Net extends Module {
  lin = this.child("lin", new Linear(6, 4));
  conv = this.child("conv", new Conv2d(2, 3, 3, 1, 1));
}

/** Weights and inputs: sin(seed + 0.37·i) / 2, the same formula the test uses. */
export const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 0.37) * 0.5);

async function compute(net: Net) {
  const x = tf.tensor2d(fill(2 * 6, 7), [2, 6]);
  const img = tf.tensor4d(fill(1 * 4 * 4 * 2, 8), [1, 4, 4, 2]);
  const y = net.lin.forward(x);
  const z = net.conv.forward(img);
  const out = { linear: Array.from(await y.data()), conv: Array.from(await z.data()) };
  tf.dispose([x, img, y, z]);
  return out;
}

async function smoke(name: BackendName, wasmPaths: string) {
  const chosen = await initBackend(name, { wasmPaths });
  const build = (pack: boolean) => {
    const net = new Net();
    net.namedParameters().forEach(([, p], j) => p.setTorchHost(fill(p.shape.reduce((a, b) => a * b, 1), j)));
    if (pack) packForInference(net);
    return net;
  };
  const plain = build(false);
  const packed = build(true);
  const result = {
    backend: chosen,
    info: backendInfo(),
    crossOriginIsolated: globalThis.crossOriginIsolated ?? false,
    hardwareConcurrency: navigator.hardwareConcurrency,
    plain: await compute(plain),
    packed: await compute(packed),
    packedWeights: packedWeightCount(packed),
    // core's browser build of the model cache: a name is its URL, nothing is cached
    models: { d16: await resolveModel("var-d16"), vaeCached: cachedModelPath("vae") ?? null },
  };
  plain.dispose();
  packed.dispose();
  return result;
}

(globalThis as unknown as { smoke: typeof smoke }).smoke = smoke;
