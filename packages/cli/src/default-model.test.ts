/**
 * `nextscale generate` without --vae/--var: the bundled default model
 * (@nextscale/model-fashion-mnist), its class names and its sampling
 * settings; the files the README's first command writes.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage } from "@nextscale/core";
import { CLASS_NAMES } from "@nextscale/model-fashion-mnist";
import { describe, expect, it } from "vitest";
import { classText, parseClasses } from "./commands/generate.js";
import { UsageError } from "./commands/types.js";
import { runCli as run } from "./run.testutil.js";

const backend = process.env.NEXTSCALE_BACKEND ?? "wasm";

describe("nextscale generate with the bundled default model", () => {
  const dir = mkdtempSync(join(tmpdir(), "ns-default-"));

  it("writes <class>_<i>.png at 28×28 for classes given by number or name, saying which model ran", async () => {
    const out = join(dir, "imgs");
    const r = await run(["generate", "--class", "sneaker,0", "--class", "ankle boot", "--n-per-class", "2", "--out-dir", out, "--backend", backend]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/model: fashion-mnist \(the bundled default/);
    expect(readdirSync(out).sort()).toEqual(["0_0.png", "0_1.png", "7_0.png", "7_1.png", "9_0.png", "9_1.png"]);
    const im = decodeImage(readFileSync(join(out, "7_0.png")));
    expect([im.width, im.height]).toEqual([28, 28]);
    // the model's classifier by name: accuracy on the class asked for, from the file names
    const acc = await run(["fid", out, "--accuracy", "--features", "fashion-mnist", "--json", "--backend", backend]);
    expect(acc.code, acc.err).toBe(0);
    const j = JSON.parse(acc.out);
    console.log(`[default model] ${backend}: fid ${out} --accuracy --features fashion-mnist: ${j.accuracy.correct}/${j.accuracy.count}`);
    expect(j.extractor).toBe("fashion-mnist-cnn-v1");
    expect(j.accuracy.count).toBe(6);
    expect(j.accuracy.per_class.map((c: { class: number }) => c.class)).toEqual([0, 7, 9]);
    const unknown = await run(["fid", out, "--accuracy", "--features", "mnist"]);
    expect([unknown.code, unknown.err]).toEqual([1, expect.stringMatching(/--features mnist: cannot import it .*named extractors: fashion-mnist/)]);
  });

  it("a labelled grid with --zoom: every image enlarged K times", async () => {
    const plain = join(dir, "plain.png");
    const zoomed = join(dir, "zoomed.png");
    expect((await run(["generate", "--class", "8", "--n-per-class", "2", "--out", plain, "--backend", backend])).code).toBe(0);
    const r = await run(["generate", "--class", "8", "--n-per-class", "2", "--out", zoomed, "--zoom", "3", "--labels", "--backend", backend]);
    expect(r.code, r.err).toBe(0);
    const [a, b] = [decodeImage(readFileSync(plain)), decodeImage(readFileSync(zoomed))];
    expect(a.width).toBe(2 * 28 + 3 * 2); // a row per class: one row of 2, padding 2
    expect(b.width).toBe(2 * 84 + 3 * 2);
    const bad = await run(["generate", "--class", "1", "--out-dir", join(dir, "z"), "--zoom", "3"]);
    expect([bad.code, bad.err]).toEqual([2, expect.stringMatching(/--zoom enlarges the grid's images: use it with --out grid.png/)]);
    const zero = await run(["generate", "--class", "1", "--out", zoomed, "--zoom", "0"]);
    expect(zero.err).toMatch(/--zoom must be an integer from 1 to 16/);
  });

  it("class names: the model's own, however typed; an unknown one lists them", () => {
    expect(parseClasses(["sneaker", "Ankle_Boot", "t-shirt/top", "3", "-1"], 10, CLASS_NAMES)).toEqual([7, 9, 0, 3, -1]);
    expect(() => parseClasses(["golden retriever"], 10, CLASS_NAMES)).toThrow(UsageError);
    expect(() => parseClasses(["jacket"], 10, CLASS_NAMES)).toThrow(/unknown class "jacket": this model's classes are 0 T-shirt\/top, 1 trouser, .*9 ankle boot/);
    expect(classText(9, 10, CLASS_NAMES)).toBe("9 ankle boot");
    expect(classText(10, 10, CLASS_NAMES)).toBe("unconditional");
  });
});
