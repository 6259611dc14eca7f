/**
 * `nextscale train vqvae|var|plot` on the Fashion-MNIST slice: the run
 * folder's files (checkpoints, metrics.jsonl, sample grids, the final
 * model that the other commands load, loss.png), an interrupted run
 * (SIGINT to the built CLI) resumed by the same command giving the losses
 * of an uninterrupted one, and the errors that come before any work.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeImage } from "@nextscale/core";
import { FIXTURES } from "@nextscale/test-utils";
import { loadVqvae } from "@nextscale/tokenizer";
import { readMetricsLog } from "@nextscale/train";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const backend = tf.getBackend();
const SLICE = join(FIXTURES, "fashion-mnist-slice");
const BIN = join(__dirname, "..", "dist", "bin.js");
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cli-train-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VQVAE_ARGS = ["--data", SLICE, "--image", "16", "--ch", "32", "--ch-mult", "1,1,2", "--vocab", "32", "--z", "8", "--no-attn", "--batch", "4", "--backend", backend];
const VAR_ARGS = ["--data", SLICE, "--limit", "32", "--vqvae", join(FIXTURES, "var-tiny", "vae.pth"), "--patch-nums", "1,2,3,4", "--depth", "1", "--width", "64", "--heads", "1", "--batch", "8", "--lr", "3e-3", "--backend", backend];

const stepLosses = (log: string, key: string) =>
  readMetricsLog(log)
    .filter((r) => r.event === "step")
    .map((r) => [r.step, r[key]]);

describe("nextscale train", () => {
  it("vqvae: checkpoints, metrics.jsonl, reconstruction grids, vqvae.safetensors that loadVqvae opens without --patch-nums, loss.png", async () => {
    const out = join(dir, "vqvae");
    const r = await runCli(["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--steps", "6", "--checkpoint-every", "2", "--keep", "2", "--sample-every", "3"]);
    expect(r.err).toContain(`backend: ${backend}`);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim()).toBe(join(out, "vqvae.safetensors"));
    expect(readdirSync(out).filter((n) => n.startsWith("ckpt-")).sort()).toEqual(["ckpt-00000004.safetensors", "ckpt-00000006.safetensors"]); // --keep 2
    expect(readdirSync(join(out, "samples")).sort()).toEqual(["recon-00000003.png", "recon-00000006.png"]);
    const grid = decodeImage(readFileSync(join(out, "samples", "recon-00000006.png")));
    expect(grid.width).toBeGreaterThan(8 * 64); // 8 images enlarged to ≥ 64 px
    const log = readMetricsLog(join(out, "metrics.jsonl"));
    expect(log.map((x) => x.event)).toEqual(["start", "step", "step", "checkpoint", "step", "sample", "step", "checkpoint", "step", "step", "sample", "checkpoint", "end"]);
    const steps = log.filter((x) => x.event === "step");
    for (const s of steps) for (const k of ["loss", "recL2", "vqLoss", "gradNorm", "lr", "peakTensorMB", "imagesPerSecond"]) expect(Number.isFinite(s[k]), k).toBe(true);
    expect((steps[0].perplexity as number[]).length).toBe(4);
    const vae = await loadVqvae(join(out, "vqvae.safetensors"));
    expect(vae.config.patchNums).toEqual([1, 2, 3, 4]);
    vae.dispose();
    const plot = decodeImage(readFileSync(join(out, "loss.png")));
    expect([plot.width, plot.height]).toEqual([800, 480]);
    console.log(`[train vqvae] ${backend}: 6 steps, loss ${steps.map((s) => (s.loss as number).toFixed(3)).join(" ")}; peak tensor memory ${(steps[5].peakTensorMB as number).toFixed(1)} MB`);

    // The same command again: the run is complete, nothing more to do, the model is written again.
    const again = await runCli(["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--steps", "6"]);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/resuming from .*ckpt-00000006\.safetensors \(step 6 of 6\)/);
    // Other options on the same folder: refused, naming the difference.
    const other = await runCli(["train", "vqvae", ...VQVAE_ARGS.map((a) => (a === "32" ? "64" : a)), "--out", out, "--steps", "8"]);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/holds a run made with other options/);
  }, 600_000);

  it("vqvae --gan: the discriminator's losses logged from --gan-start on, drawn in loss.png", async () => {
    const out = join(dir, "vqvae-gan");
    const r = await runCli(["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--steps", "4", "--sample-every", "0", "--gan", "--gan-start", "2", "--gan-ndf", "8"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/discriminator: 0\.\d\dM parameters, ndf 8, 2 layers; from step 2, weight 0\.8/); // 16 px: 2 layers fit
    const steps = readMetricsLog(join(out, "metrics.jsonl")).filter((x) => x.event === "step");
    expect(steps.map((s) => typeof s.dLoss)).toEqual(["undefined", "undefined", "number", "number"]);
    for (const s of steps.slice(2)) for (const k of ["gLoss", "dLoss", "dWeight", "logitsReal", "logitsFake"]) expect(Number.isFinite(s[k]), k).toBe(true);
    console.log(`[train vqvae --gan] ${backend}: d_loss ${steps.slice(2).map((s) => (s.dLoss as number).toFixed(3)).join(" ")}, λ ${steps.slice(2).map((s) => (s.dWeight as number).toExponential(2)).join(" ")}`);
    expect(existsSync(join(out, "loss.png"))).toBe(true);
  }, 600_000);

  it("vqvae --prefix-scales: the first scales' reconstruction loss logged (prefixL2), in the progress line and the checkpoint's options", async () => {
    const out = join(dir, "vqvae-prefix");
    const r = await runCli(["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--steps", "2", "--sample-every", "0", "--prefix-scales", "2", "--prefix-weight", "0.5"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/prefix \d\.\d{4}/);
    const log = readMetricsLog(join(out, "metrics.jsonl"));
    const steps = log.filter((x) => x.event === "step");
    for (const s of steps) expect(Number.isFinite(s.prefixL2), "prefixL2").toBe(true);
    expect((log[0].trainer as { trainer: Record<string, unknown> }).trainer).toMatchObject({ prefixScales: 2, prefixWeight: 0.5 });
    console.log(`[train vqvae --prefix-scales] ${backend}: prefix loss ${steps.map((s) => (s.prefixL2 as number).toFixed(4)).join(" ")}`);
    // the same folder with another prefix weight: refused as other options
    const other = await runCli(["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--steps", "3", "--prefix-scales", "2"]);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/holds a run made with other options/);
  }, 600_000);

  it("vqvae --init F --decoder-only: starts from F's weights, trains the decoder alone, so F's token maps stay", async () => {
    const from = join(dir, "vqvae", "vqvae.safetensors"); // the first test's model
    expect(existsSync(from), "the first test writes it").toBe(true);
    const out = join(dir, "vqvae-decoder");
    const r = await runCli(["train", "vqvae", "--data", SLICE, "--image", "16", "--batch", "4", "--backend", backend, "--init", from, "--decoder-only", "--out", out, "--steps", "3", "--sample-every", "0", "--gan", "--gan-ndf", "8"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`initialised from ${from} (decoder only: the encoder and codebook stay)`);
    const [a, b] = await Promise.all([from, join(out, "vqvae.safetensors")].map((f) => loadVqvae(f)));
    const x = tf.randomUniform([2, 16, 16, 3], -1, 1, "float32", 3) as tf.Tensor4D;
    const ids = async (v: typeof a) => Promise.all(v.imageToIndices(x).map((t) => t.data()));
    expect(await ids(b)).toEqual(await ids(a));
    const weight = async (v: typeof a, k: string) => Array.from(await v.namedParameters().find(([n]) => n === k)![1].value.data());
    expect(await weight(b, "encoder.conv_in.weight")).toEqual(await weight(a, "encoder.conv_in.weight"));
    expect(await weight(b, "quantize.embedding.weight")).toEqual(await weight(a, "quantize.embedding.weight"));
    expect(await weight(b, "decoder.conv_out.weight")).not.toEqual(await weight(a, "decoder.conv_out.weight"));
    console.log(`[train vqvae --decoder-only] ${backend}: token maps of F unchanged, the decoder trained`);
    tf.dispose(x);
    a.dispose();
    b.dispose();
  }, 600_000);

  it("var: interrupted with Ctrl-C (a checkpoint is written), then the same command resumes with the losses of an unbroken run; var.pth generates", async () => {
    const straight = join(dir, "var-straight");
    const s = await runCli(["train", "var", ...VAR_ARGS, "--out", straight, "--epochs", "16", "--checkpoint-every", "1000", "--sample-every", "0"]);
    expect(s.code, s.err).toBe(0);
    expect(s.err).toMatch(/token maps: 32 images encoded/);
    expect(existsSync(join(straight, "var.pth"))).toBe(true);
    const want = stepLosses(join(straight, "metrics.jsonl"), "loss");
    expect(want).toHaveLength(64);

    // The built CLI in a child process, SIGINT once the log shows a few steps.
    const broken = join(dir, "var-broken");
    const args = [BIN, "train", "var", ...VAR_ARGS, "--out", broken, "--epochs", "16", "--checkpoint-every", "1000", "--sample-every", "0"];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.on("data", (b) => {
        err += b;
      });
      const timer = setInterval(() => {
        const log = join(broken, "metrics.jsonl");
        if (existsSync(log) && readFileSync(log, "utf8").split('"event":"step"').length > 4) {
          clearInterval(timer);
          child.kill("SIGINT");
        }
      }, 50);
      child.on("exit", (c) => {
        clearInterval(timer);
        if (c !== 130) console.log(err);
        resolve(c);
      });
    });
    expect(code).toBe(130);
    const ckpts = readdirSync(broken).filter((n) => n.startsWith("ckpt-"));
    expect(ckpts).toHaveLength(1);
    const stoppedAt = Number(ckpts[0].slice(5, -12));
    expect(stoppedAt).toBeGreaterThan(2);
    expect(stoppedAt).toBeLessThan(64);
    expect(existsSync(join(broken, "var.pth"))).toBe(false);

    const resumed = await runCli(["train", "var", ...VAR_ARGS, "--out", broken, "--epochs", "16", "--checkpoint-every", "1000", "--sample-every", "0"]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/token maps: .* \(cached\)/);
    expect(resumed.err).toContain(`resuming from ${join(broken, ckpts[0])} (step ${stoppedAt} of 64)`);
    const got = stepLosses(join(broken, "metrics.jsonl"), "loss");
    console.log(`[train var] ${backend}: stopped at step ${stoppedAt} of 64 and resumed; losses (every 8th) ${got.filter((_, i) => i % 8 === 0).map(([, l]) => (l as number).toFixed(4)).join(" ")}`);
    expect(got).toEqual(want); // bit for bit
    expect(readFileSync(join(broken, "var.pth"))).toEqual(readFileSync(join(straight, "var.pth")));

    const png = join(dir, "gen.png");
    const g = await runCli(["generate", "--vae", join(FIXTURES, "var-tiny", "vae.pth"), "--var", join(straight, "var.pth"), "--class", "3", "--out", png, "--backend", backend]);
    expect(g.code, g.err).toBe(0);
    expect(decodeImage(readFileSync(png)).width).toBeGreaterThanOrEqual(64); // the tiny VQ-VAE decodes 64 px (a 1-image grid may add a border)
  }, 600_000);

  it("plot: a log to a PNG; errors for a missing log, a log with no step, a foreign file", async () => {
    const log = join(dir, "var-straight", "metrics.jsonl");
    const png = join(dir, "acc.png");
    const r = await runCli(["train", "plot", log, "--out", png, "--metric", "accuracy,tailAccuracy"]);
    expect(r.code, r.err).toBe(0);
    expect(decodeImage(readFileSync(png)).height).toBe(480);
    const missing = await runCli(["train", "plot", join(dir, "nope.jsonl")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read the metrics log/);
    const empty = join(dir, "empty.jsonl");
    writeFileSync(empty, `${JSON.stringify({ event: "start", kind: "var" })}\n`);
    const none = await runCli(["train", "plot", empty, "--out", join(dir, "e.png")]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no step logged/);
    const foreign = join(dir, "foreign.jsonl");
    writeFileSync(foreign, "hello\nworld\n");
    const f = await runCli(["train", "plot", foreign, "--out", join(dir, "f.png")]);
    expect(f.code).toBe(1);
    expect(f.err).toMatch(/foreign\.jsonl:1: not a JSON line/);
  });

  it("bad input is refused before any work, and nothing is written", async () => {
    const out = join(dir, "never");
    const cases: [string[], RegExp, number][] = [
      [["train"], /first argument is vqvae, var or plot/, 2],
      [["train", "gan"], /first argument is vqvae, var or plot \(got "gan"\)/, 2],
      [["train", "vqvae", "--out", out], /--data is required/, 2],
      [["train", "vqvae", "--data", SLICE], /--out is required/, 2],
      [["train", "vqvae", "--data", join(dir, "missing"), "--out", out], /--data .*missing: no such file or folder/, 1],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--accum", "8"], /--accum 8 is more than --batch 4/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--patch-nums", "1,2,3"], /must increase and end at the latent side 4/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--l2", "0"], /nothing to reconstruct/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--gan-start", "5"], /--gan-start without --gan/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--gan", "--gan-layers", "3"], /--gan-layers 3: images of 16×16 allow at most 2/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--decoder-only"], /--decoder-only needs --init F/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--prefix-scales", "4"], /--prefix-scales 4: this VQ-VAE has 4 scales, so at most 3/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--prefix-weight", "2"], /--prefix-weight without --prefix-scales N/, 2],
      [["train", "vqvae", ...VQVAE_ARGS, "--out", out, "--init", join(FIXTURES, "var-tiny", "vae.pth")], /--ch, --ch-mult, --vocab, --z, --no-attn with --init/, 2],
      [["train", "vqvae", "--data", SLICE, "--out", out, "--init", join(FIXTURES, "var-tiny", "var.pth")], /--init .*var\.pth: .*looks like a VAR checkpoint/, 2],
      [["train", "var", "--data", SLICE, "--out", out], /--vqvae is required/, 2],
      [["train", "var", ...VAR_ARGS, "--out", out, "--width", "65", "--heads", "2"], /--width 65 is not a multiple of --heads 2/, 2],
    ];
    for (const [args, msg, code] of cases) {
      const r = await runCli(args);
      expect(r.err, args.join(" ")).toMatch(msg);
      expect(r.code, args.join(" ")).toBe(code);
    }
    expect(existsSync(out)).toBe(false);
    const help = await runCli(["train", "var", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/width = 64·depth, heads = depth/);
  });
});
