/**
 * What the checks of the zip and safetensors readers cost: time per load of
 * the var-tiny fixtures and of a large synthetic checkpoint (stored torch
 * zip and safetensors), and CRC-32 throughput. Off by default (it writes
 * `NEXTSCALE_IO_BENCH_MB` MB, 300 by default, twice to the temporary folder);
 * run with `NEXTSCALE_IO_BENCH=1 npx vitest run src/io/io-cost.test.ts`.
 * `NEXTSCALE_IO_BENCH_DIR` names another folder of readers to time (a copy of
 * an older `src/io`, to compare before and after a change).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES } from "@nextscale/test-utils";
import { describe, expect, it } from "vitest";
import type { HostTensor } from "./dtype.js";
import type { TensorStore } from "./store.js";

const enabled = !!process.env.NEXTSCALE_IO_BENCH;
const dir = process.env.NEXTSCALE_IO_BENCH_DIR ?? "io";
const mb = Number(process.env.NEXTSCALE_IO_BENCH_MB ?? 300);
const tiny = join(FIXTURES, "var-tiny");

type Open = (input: string) => Promise<TensorStore>;

async function loadAll(open: Open, file: string): Promise<number> {
  const store = await open(file);
  let bytes = 0;
  for (const k of store.keys()) bytes += (await store.read(k)).data.byteLength;
  await store.close();
  return bytes;
}

async function timeLoads(open: Open, file: string, repeats: number): Promise<{ ms: number; min: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  await loadAll(open, file); // warm the page cache and the JIT
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    bytes = await loadAll(open, file);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1], min: times[0], bytes };
}

describe.runIf(enabled)(`load cost (${dir})`, () => {
  it("var-tiny fixtures and a large synthetic checkpoint", async () => {
    const { openCheckpoint } = (dir === "io" ? await import("./checkpoint.js") : await import(/* @vite-ignore */ `../${dir}/checkpoint.ts`)) as {
      openCheckpoint: Open;
    };
    const { writeSafetensors } = await import("./safetensors.js");
    const { torchStatePickle, torchZip } = await import("./fake-torch.testutil.js");
    const out = join(tmpdir(), "nextscale-io-bench");
    mkdirSync(out, { recursive: true });
    const pth = join(out, `synthetic-${mb}mb.pth`);
    const st = join(out, `synthetic-${mb}mb.safetensors`);
    if (!existsSync(pth) || !existsSync(st)) {
      const per = 10 << 20; // 10 MiB storages, like the larger weights of d16
      const n = Math.max(1, Math.round((mb << 20) / per));
      const storages: Record<string, Uint8Array> = {};
      const tensors = new Map<string, HostTensor>();
      const refs: Parameters<typeof torchStatePickle>[0] = [];
      for (let i = 0; i < n; i++) {
        const data = new Float32Array(per / 4).map((_, j) => Math.sin(i + j));
        storages[String(i)] = new Uint8Array(data.buffer);
        tensors.set(`w${i}`, { dtype: "float32", shape: [per / 4096, 1024], data });
        refs.push([`w${i}`, { storage: String(i), storageType: "FloatStorage", storageNumel: per / 4, offset: 0, shape: [per / 4096, 1024], stride: [1024, 1] }]);
      }
      writeFileSync(pth, torchZip("synthetic", torchStatePickle(refs), storages));
      writeFileSync(st, writeSafetensors(tensors));
    }
    const rows: string[] = [];
    for (const [label, file, repeats] of [
      ["var-tiny/var.pth", join(tiny, "var.pth"), 9],
      ["var-tiny/var.safetensors", join(tiny, "var.safetensors"), 9],
      ["var-tiny/vae.pth", join(tiny, "vae.pth"), 5],
      [`synthetic ${mb} MB .pth (stored zip)`, pth, 7],
      [`synthetic ${mb} MB .safetensors`, st, 7],
    ] as const) {
      const { ms, min, bytes } = await timeLoads(openCheckpoint, file, repeats);
      rows.push(
        `${label}: ${ms.toFixed(1)} ms per load, median of ${repeats} (fastest ${min.toFixed(1)} ms; ${(bytes / 1e6).toFixed(1)} MB of tensors, ${(bytes / 1e3 / ms).toFixed(0)} MB/s)`,
      );
    }
    if (dir === "io") {
      const { crc32 } = await import("./zip-write.js");
      const buf = new Uint8Array(256 << 20).map((_, i) => (i * 2654435761) >>> 13);
      crc32(buf.subarray(0, 1 << 20));
      const t = performance.now();
      crc32(buf);
      rows.push(`crc32: ${((256 << 20) / 1e3 / (performance.now() - t)).toFixed(0)} MB/s over 256 MiB`);
    }
    console.log(`load cost with src/${dir}:\n  ${rows.join("\n  ")}`);
    expect(rows.length).toBeGreaterThan(0);
  }, 600_000);
});
