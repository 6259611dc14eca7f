/** evaluate() refuses what a run cannot do before it embeds any image. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePng } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { evaluate, openEvalInput } from "./evaluate.js";
import type { FeatureExtractor } from "./feature-extractor.js";
import { EvalInputError } from "./image-source.js";

const tmp = mkdtempSync(join(tmpdir(), "nextscale-eval-checks-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, n: number): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (let s = 0; s < n; s++) {
    const data = new Float32Array(8 * 8 * 3).map((_, i) => (Math.sin(i * 0.3 + s) + 1) / 2);
    writeFileSync(join(dir, `${s}.png`), encodePng({ width: 8, height: 8, data }));
  }
  return dir;
}

describe("evaluate() checks before embedding", () => {
  it("the Inception Score with an extractor that has no logits is refused before any image is embedded", async () => {
    let calls = 0;
    const meanRgb: FeatureExtractor = {
      name: "mean-rgb",
      dim: 3,
      async extract(images) {
        calls++;
        const f = tf.mean(images, [1, 2]);
        const features = (await f.data()) as Float32Array;
        f.dispose();
        return { features };
      },
    };
    const [a, b] = [await openEvalInput(folder("a", 4)), await openEvalInput(folder("b", 4))];
    const run = evaluate(a, b, { extractor: meanRgb, inceptionScore: true });
    await expect(run).rejects.toThrow(EvalInputError);
    await expect(evaluate(a, b, { extractor: meanRgb, inceptionScore: 2 })).rejects.toThrow(
      /the Inception Score needs classifier logits, but the feature extractor "mean-rgb" has none \(it declares no numClasses\)/,
    );
    expect(calls).toBe(0); // side A was not embedded either
    // FID and precision/recall need only the features
    const r = await evaluate(a, b, { extractor: meanRgb, precisionRecall: true });
    expect(Number.isFinite(r.fid)).toBe(true);
    expect(calls).toBeGreaterThan(0);
  });
});
