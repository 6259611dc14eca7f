import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { runCli } from "./run.testutil.js";

const backend = tf.getBackend(); // the one test-setup initialised (NEXTSCALE_BACKEND, else wasm then cpu)

function parse(out: string): Record<string, unknown> {
  const lines = out.trim().split("\n");
  expect(lines).toHaveLength(1); // one JSON object on stdout
  return JSON.parse(lines[0]);
}

function checkResult(r: Record<string, unknown>, what: string) {
  console.log(`bench --train ${what} on ${backend}: ${JSON.stringify({ step_ms: r.step_ms, images_per_second: r.images_per_second, peak_rss_mb: r.peak_rss_mb })}`);
  expect(r.train).toBe(what);
  for (const k of ["images_per_second", "step_ms", "peak_rss_mb", "peak_tensor_mb", "parameters"]) {
    expect(typeof r[k], k).toBe("number");
    expect(r[k] as number, k).toBeGreaterThan(0);
  }
  expect(Number.isFinite(r.loss)).toBe(true);
  expect((r.step_ms_all as number[]).length).toBe(2);
  const machine = r.machine as { cpu: string; cores: number };
  expect(machine.cpu.length).toBeGreaterThan(0);
  expect(machine.cores).toBeGreaterThan(0);
  expect((r.backend as { name: string }).name).toBe(backend);
  expect(r.optimizer).toMatch(/AdamW/);
}

describe("nextscale bench --train", () => {
  it("var: a tiny config, two timed steps, one JSON object with the figures and the backend", async () => {
    const { code, out, err } = await runCli(
      ["bench", "--train", "var", "--depth", "1", "--width", "64", "--vocab", "16", "--cvae", "4", "--patch-nums", "1,2", "--batch", "2", "--steps", "2", "--warmup", "1", "--backend", backend, "--json"],
    );
    expect(err).toContain(`backend: ${backend}`);
    expect(code).toBe(0);
    const r = parse(out);
    checkResult(r, "var");
    expect(r.config).toEqual({ depth: 1, width: 64, heads: 1, vocab: 16, cvae: 4, patch_nums: [1, 2], batch: 2 });
  });

  it("var --recompute: the same first loss (same steps), recompute in the config", async () => {
    const args = ["bench", "--train", "var", "--depth", "2", "--width", "64", "--vocab", "16", "--cvae", "4", "--patch-nums", "1,2,3", "--batch", "4", "--steps", "2", "--warmup", "0", "--backend", backend, "--json"];
    const plain = parse((await runCli(args)).out);
    const re = await runCli([...args, "--recompute"]);
    expect(re.code, re.err).toBe(0);
    const r = parse(re.out);
    checkResult(r, "var");
    expect((r.config as { recompute?: boolean }).recompute).toBe(true);
    expect(r.loss).toBe(plain.loss); // the last step's loss: the same steps, bit for bit
    console.log(`bench --train var --recompute on ${backend}: peak tensor memory ${(plain.peak_tensor_mb as number).toFixed(2)} → ${(r.peak_tensor_mb as number).toFixed(2)} MB`);
    const bad = await runCli(["bench", "--train", "vqvae", "--recompute"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--recompute is not an option of --train vqvae/);
  });

  it("vqvae: a tiny config, two timed steps", async () => {
    const { code, out, err } = await runCli(
      ["bench", "--train", "vqvae", "--ch", "32", "--ch-mult", "1,2", "--image", "8", "--vocab", "16", "--z", "4", "--patch-nums", "1,2,4", "--batch", "2", "--steps", "2", "--warmup", "1", "--backend", backend, "--json"],
    );
    expect(err).toContain(`backend: ${backend}`);
    expect(code).toBe(0);
    checkResult(parse(out), "vqvae");
  });

  it("bad values are usage errors", async () => {
    const bad = await runCli(["bench", "--train", "gan"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--train must be var or vqvae/);
    const foreign = await runCli(["bench", "--train", "var", "--ch", "32"]);
    expect(foreign.code).toBe(2);
    expect(foreign.err).toMatch(/--ch is not an option of --train var/);
    const latent = await runCli(["bench", "--train", "vqvae", "--image", "32", "--ch-mult", "1,2,2", "--patch-nums", "1,2,4"]);
    expect(latent.code).toBe(2);
    expect(latent.err).toMatch(/last of --patch-nums must be it/);
  });
});
