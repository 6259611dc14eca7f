// What a user of the published packages runs, in the empty project run.sh
// made (node generate.mjs VAE VAR OUT.png): import only @nextscale/sampler,
// @nextscale/backends and (for PNG encoding, which the sampler does not
// re-export) @nextscale/core, generate one image on wasm with a fixed seed and
// class, check it, and write it as a PNG. Exits 1 with a message on failure.
import { writeFileSync } from "node:fs";
import { backendInfo, initBackend, listBackends } from "@nextscale/backends";
import { encodePng } from "@nextscale/core";
import { generate, loadModels } from "@nextscale/sampler";

const [vaePath, varPath, outPath] = process.argv.slice(2);
const CLASS = 3;
const SEED = 0;

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function main() {
  check(vaePath && varPath && outPath, "usage: node generate.mjs VAE.pth VAR.pth OUT.png");
  const t0 = performance.now();

  // Without the optional "webgpu" peer, webgpu is unavailable and says how to add it.
  const webgpu = (await listBackends()).find((b) => b.name === "webgpu");
  console.log(`webgpu without Dawn: available ${webgpu?.available}; reason: ${webgpu?.reason}`);
  check(webgpu && !webgpu.available && /"webgpu" package \(Dawn for Node\) is not installed/.test(webgpu.reason),
    `webgpu should be unavailable because the "webgpu" package is not installed, got ${JSON.stringify(webgpu)}`);

  const name = await initBackend("wasm");
  check(name === "wasm", `initBackend("wasm") chose ${name}`);
  const info = backendInfo();
  console.log(`backend: ${name} (${info.device}; weight packing ${info.weightPacking}; fused kernels ${info.fusedKernels.join(", ")})`);

  const models = await loadModels({ vae: vaePath, var: varPath });
  const c = models.var.config;
  console.log(`loaded ${vaePath} and ${varPath}: VAR depth ${c.depth}, width ${c.embedDim}, patch_nums [${c.patchNums}], ${c.numClasses} classes, codebook ${c.vocabSize}`);

  const t1 = performance.now();
  const res = await generate(models.vae, models.var, { labels: [CLASS], seed: SEED });
  const [B, H, W, C] = res.images.shape;
  const data = await res.images.data();
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = true;
  for (const v of data) {
    if (!Number.isFinite(v)) finite = false;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  console.log(`generate(class ${CLASS}, seed ${SEED}) in ${((performance.now() - t1) / 1000).toFixed(2)} s: images [${res.images.shape}], ` +
    `min ${min.toFixed(4)} max ${max.toFixed(4)} mean ${(sum / data.length).toFixed(4)}, labels [${res.labels}], ` +
    `tokens per scale ${res.indices.map((t) => t.shape[1]).join("+")}`);
  // the VQ-VAE upsamples the last token map 2^(levels − 1) times
  const P = c.patchNums[c.patchNums.length - 1] * 2 ** (models.vae.config.chMult.length - 1);
  check(B === 1 && H === P && W === P && C === 3, `images should be [1, ${P}, ${P}, 3], got [${res.images.shape}]`);
  check(finite, "the image has NaN or infinite values");
  check(max - min > 1e-3, `the image is constant (${min} … ${max})`);

  const png = encodePng({ width: W, height: H, data: Float32Array.from(data) });
  check(png[0] === 0x89 && png[1] === 0x50 && png[2] === 0x4e && png[3] === 0x47, "encodePng did not write a PNG");
  writeFileSync(outPath, png);
  console.log(`wrote ${outPath} (${png.length} bytes, ${W}×${H})`);

  for (const t of [res.images, res.fHat, ...res.indices]) t.dispose();
  models.dispose();
  console.log(`ok in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}

main().catch((e) => {
  console.error(`install test: generate.mjs failed: ${e?.stack ?? e}`);
  process.exit(1);
});
