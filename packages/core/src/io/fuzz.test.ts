/**
 * Fuzz test of the checkpoint loaders: a seeded corpus of hostile files
 * (fuzz/generate.testutil.ts: pickle amplification, big integers,
 * decompression bombs, zip and safetensors integrity, views and sizes,
 * keys, npy/npz headers, pickles that try to run code, and random
 * truncations and byte flips of valid files) run one file per
 * `worker_threads` Worker through `openCheckpoint`, `read` of every tensor
 * and `nextscale info` (`inspectCheckpoint` + `JSON.stringify`).
 *
 * A file fails on: a hang (the worker is terminated at its time limit), a
 * memory blow-up (growth of heapUsed + arrayBuffers past 8× the file's
 * size + 32 MiB, or the JS heap limit, or the process's RSS), reading more
 * than 8× the file + 1 MiB from it, any error that is not a
 * `CheckpointFormatError` (or one that does not name the file, or runs
 * over 4,096 characters), a load of a file that must be refused, a
 * refusal of a valid file, or a load whose tensors differ from the
 * original where the format can detect it (zip entries carry a CRC-32;
 * safetensors and .npy have no checksum, so such a load is counted as
 * "undetectable by the format").
 *
 * NEXTSCALE_FUZZ_SEED (default below), NEXTSCALE_FUZZ_FILES (random
 * truncations and as many flips per valid file), NEXTSCALE_FUZZ_ONLY (a
 * part of the case ids to run), NEXTSCALE_FUZZ_KEEP (a folder to keep the
 * generated files in), NEXTSCALE_FUZZ_VERBOSE=1 (every file's outcome) run
 * more, or one case, locally.
 *
 * Pure I/O: no tfjs backend is used, here or in the workers.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { FIXTURES } from "@nextscale/test-utils";
import { defaultServerConditions, build as viteBuild } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Corpus, type ExpectedTensors, FUZZ_CLASSES, type FuzzCase, type FuzzClass, generateCorpus } from "./fuzz/generate.testutil.js";
import { type LoadResult, loadAll, PHASES, Slot, type WorkerInput, type WorkerMessage } from "./fuzz/worker.testutil.js";
import { crc32 } from "./zip-write.js";

const SEED = Number(process.env.NEXTSCALE_FUZZ_SEED ?? 20261201);
const FILES = Number(process.env.NEXTSCALE_FUZZ_FILES ?? 16);
const ONLY = process.env.NEXTSCALE_FUZZ_ONLY;
const KEEP = process.env.NEXTSCALE_FUZZ_KEEP;
const VERBOSE = !!process.env.NEXTSCALE_FUZZ_VERBOSE;

const MiB = 1 << 20;
/** Memory: growth of heapUsed + arrayBuffers in the worker. */
const MEM_FACTOR = 8;
const MEM_ALLOWANCE = 32 * MiB;
/** Bytes read from the file. */
const READ_FACTOR = 8;
const READ_ALLOWANCE = MiB;
/** Wall clock per file, worker start included. */
const TIME_BASE_MS = 3000;
const TIME_PER_MIB_MS = 1000;
/** The process's RSS, a backstop for what the worker cannot sample (allocations inside one synchronous step). */
const RSS_ALLOWANCE = 512 * MiB;
const MAX_MESSAGE = 4096;

const limitsOf = (size: number) => ({
  mem: MEM_FACTOR * size + MEM_ALLOWANCE,
  read: READ_FACTOR * size + READ_ALLOWANCE,
  ms: TIME_BASE_MS + (TIME_PER_MIB_MS * size) / MiB,
});

/**
 * Failures that wait for a loader fix (case id, and the failure expected):
 * reported as pending, not failed. A pending case that passes is reported
 * so that its entry can go.
 */
const PENDING: { id: RegExp; failure: RegExp; why: string }[] = [];

type Verdict = "clean error" | "verified load" | "undetectable load";
interface Run {
  c: FuzzCase;
  size: number;
  ms: number;
  loadMs?: number;
  peak: number;
  bytesRead: number;
  limits: ReturnType<typeof limitsOf>;
  verdict?: Verdict;
  failure?: string;
  pending?: string;
  message?: string;
  named?: boolean;
}

let dir = "";
let workerFile = "";
let corpus: Corpus;
const references = new Map<string, ExpectedTensors>();
const runs: Run[] = [];
const t0 = performance.now();

const here = dirname(fileURLToPath(import.meta.url));

/** The worker and the loaders it imports as one ES module a Worker can start on (vitest's transform does not reach worker threads). */
async function bundleWorker(): Promise<string> {
  const out = await viteBuild({
    configFile: false,
    logLevel: "silent",
    root: resolve(here, "../.."),
    publicDir: false,
    envDir: false,
    ssr: { noExternal: true, resolve: { conditions: ["@nextscale/source", ...defaultServerConditions] } },
    build: { ssr: join(here, "fuzz/worker.testutil.ts"), write: false, minify: false, sourcemap: false, rolldownOptions: { output: { format: "es" } } },
  });
  const outputs = (Array.isArray(out) ? out : [out]) as { output: { type: string; code?: string }[] }[];
  const chunks = outputs.flatMap((o) => o.output).filter((c) => c.type === "chunk");
  if (chunks.length !== 1 || !chunks[0].code) throw new Error(`bundling the fuzz worker gave ${chunks.length} chunks`);
  const file = join(dir, "worker.mjs");
  writeFileSync(file, chunks[0].code);
  return file;
}

function runInWorker(path: string, size: number): Promise<{ message?: WorkerMessage; failure?: string; ms: number; peak: number; bytesRead: number; phase: string }> {
  const limits = limitsOf(size);
  const stats = new SharedArrayBuffer(8 * 4);
  const view = new Float64Array(stats);
  const input: WorkerInput = { nextscaleFuzz: true, path, memLimit: limits.mem, readLimit: limits.read, stats };
  const rss0 = process.memoryUsage.rss();
  const start = performance.now();
  return new Promise((done) => {
    const worker = new Worker(pathToFileURL(workerFile), {
      workerData: input,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: Math.ceil(limits.mem / MiB) + 64, maxYoungGenerationSizeMb: 8 },
    });
    let message: WorkerMessage | undefined;
    let failure: string | undefined;
    const stop = (why: string) => {
      failure ??= why;
      void worker.terminate();
    };
    const phase = () => {
      const p = PHASES[view[Slot.phase]] ?? "start";
      return p === "read" ? `read of tensor ${view[Slot.tensor]}` : p;
    };
    const timer = setTimeout(() => stop(`hang: no result after ${limits.ms.toFixed(0)} ms (in ${phase()})`), limits.ms);
    const watch = setInterval(() => {
      const rss = process.memoryUsage.rss() - rss0;
      if (rss > limits.mem + RSS_ALLOWANCE) stop(`memory blow-up: the process's RSS grew ${(rss / MiB).toFixed(0)} MiB (in ${phase()})`);
    }, 10);
    let grace: ReturnType<typeof setTimeout> | undefined;
    worker.on("message", (m: WorkerMessage) => {
      message ??= m;
      if (m.type === "result") grace = setTimeout(() => void worker.terminate(), 2000);
    });
    worker.on("error", (e: Error & { code?: string }) => {
      failure ??= e.code === "ERR_WORKER_OUT_OF_MEMORY" ? `memory blow-up: the worker's JS heap limit (in ${phase()})` : `crash: ${e.name}: ${e.message}`;
    });
    worker.on("exit", () => {
      clearTimeout(timer);
      clearInterval(watch);
      if (grace) clearTimeout(grace);
      done({ message, failure, ms: performance.now() - start, peak: view[Slot.peak], bytesRead: view[Slot.bytesRead], phase: phase() });
    });
  });
}

const mb = (n: number) => `${(n / MiB).toFixed(n < 10 * MiB ? 2 : 0)} MiB`;

function compare(expected: ExpectedTensors, got: LoadResult & { kind: "loaded" }): string | undefined {
  const want = Object.keys(expected);
  const names = got.tensors.map((t) => t.name);
  const missing = want.filter((k) => !names.includes(k));
  const extra = names.filter((k) => !Object.hasOwn(expected, k));
  const short = (xs: string[]) => xs.slice(0, 4).map((x) => JSON.stringify(x.slice(0, 60))).join(", ") + (xs.length > 4 ? ` … (${xs.length})` : "");
  if (missing.length) return `tensors missing: ${short(missing)}${extra.length ? `; unexpected: ${short(extra)}` : ""}`;
  if (extra.length) return `unexpected tensors: ${short(extra)}`;
  const changed = got.tensors.filter((t) => t.digest !== expected[t.name].digest);
  if (changed.length) return `tensors changed: ${changed.slice(0, 3).map((t) => `${t.name.slice(0, 60)} (${t.digest.slice(0, 80)} instead of ${expected[t.name].digest.slice(0, 80)})`).join(", ")}`;
  return undefined;
}

function judge(r: Run, res: Awaited<ReturnType<typeof runInWorker>>, path: string): void {
  const { c } = r;
  if (res.failure) {
    r.failure = res.failure;
    return;
  }
  const m = res.message;
  if (!m) {
    r.failure = `crash: the worker exited without a result (in ${res.phase})`;
    return;
  }
  if (m.type === "memory") {
    r.failure = `memory blow-up: grew ${mb(m.growth)} (limit ${mb(r.limits.mem)}) in ${m.phase}`;
    return;
  }
  if (m.type === "read-amplification") {
    r.failure = `read amplification: read ${mb(m.bytesRead)} of a ${mb(r.size)} file (limit ${mb(r.limits.read)}) in ${m.phase}`;
    return;
  }
  if (m.type === "unhandled") {
    r.failure = `crash: unhandled rejection: ${m.message.slice(0, 300)}`;
    return;
  }
  r.loadMs = m.ms;
  const out = m.result;
  if (c.sentinel && existsSync(c.sentinel)) {
    r.failure = `CODE RAN: ${c.sentinel} exists`;
    return;
  }
  if (out.kind === "error") {
    r.message = out.message;
    r.named = out.message.includes(basename(path));
    if (!out.cfe) r.failure = `${out.name} instead of a CheckpointFormatError: ${out.message.slice(0, 300)}${out.stack ? `\n${out.stack.split("\n").slice(1, 5).join("\n")}` : ""}`;
    else if (out.message.length > MAX_MESSAGE) r.failure = `a message of ${out.message.length} characters`;
    else if (!r.named) r.failure = `the message does not name the file: ${out.message.slice(0, 300)}`;
    else if (c.expect === "load") r.failure = `refused a valid file: ${out.message.slice(0, 300)}`;
    else r.verdict = "clean error";
    return;
  }
  if (out.problems.length) {
    r.failure = `store.info and store.read disagree: ${out.problems.slice(0, 2).join("; ")}`;
    return;
  }
  const keys = out.tensors.map((t) => t.name);
  if (out.summary.tensors !== keys.length || out.summary.keys.length !== keys.length || out.summary.keys.some((k, i) => k !== keys[i])) {
    r.failure = `nextscale info disagrees with the store: ${out.summary.tensors} tensors, keys [${out.summary.keys.slice(0, 5)}] for [${keys.slice(0, 5)}]`;
    return;
  }
  if (c.expect === "error") {
    r.failure = `loaded a file that must be refused (${keys.length} tensors: ${keys.slice(0, 4).map((k) => k.slice(0, 40)).join(", ")})`;
    return;
  }
  const expected = c.tensors ?? (c.base ? references.get(c.base) : undefined);
  if (!expected) throw new Error(`${c.id}: no expected tensors`);
  const diff = compare(expected, out);
  if (!diff) r.verdict = "verified load";
  else if (!c.detectable && c.expect === "clean") r.verdict = "undetectable load";
  else r.failure = c.expect === "load" ? `a valid file loaded wrongly: ${diff}` : `silently changed: ${diff}`;
}

async function runCase(c: FuzzCase, index: number): Promise<Run> {
  const bytes = await c.make();
  const name = `${String(index).padStart(4, "0")}-${c.id.replace(/[^\w.#-]+/g, "_").slice(0, 80)}${c.ext}`;
  const path = join(KEEP ?? dir, name);
  writeFileSync(path, bytes);
  const r: Run = { c, size: bytes.length, ms: 0, peak: 0, bytesRead: 0, limits: limitsOf(bytes.length) };
  try {
    const res = await runInWorker(path, bytes.length);
    r.ms = res.ms;
    r.peak = res.peak;
    r.bytesRead = res.bytesRead;
    judge(r, res, path);
  } finally {
    if (!KEEP) rmSync(path, { force: true });
  }
  if (r.failure) {
    const p = PENDING.find((x) => x.id.test(c.id) && x.failure.test(r.failure!));
    if (p) r.pending = p.why;
  }
  return r;
}

function report(cls: FuzzClass | "all", rs: Run[]): string {
  const count = (v: Verdict) => rs.filter((r) => r.verdict === v).length;
  const failed = rs.filter((r) => r.failure && !r.pending).length;
  const pending = rs.filter((r) => r.pending).length;
  // the worst of the files that passed (a failure is listed with its own figures)
  const ok = rs.filter((r) => !r.failure);
  const slow = ok.reduce<Run | undefined>((a, r) => (!a || r.ms / r.limits.ms > a.ms / a.limits.ms ? r : a), undefined);
  const big = ok.reduce<Run | undefined>((a, r) => (!a || r.peak / r.limits.mem > a.peak / a.limits.mem ? r : a), undefined);
  const parts = [
    `[fuzz] ${cls}: ${rs.length} files: ${count("clean error")} clean errors, ${count("verified load")} verified loads, ${count("undetectable load")} undetectable-by-format loads, ${failed} failed${pending ? `, ${pending} pending a loader fix` : ""}`,
  ];
  if (slow) parts.push(`slowest ${slow.ms.toFixed(0)} ms of ${slow.limits.ms.toFixed(0)} (${slow.c.id}, ${mb(slow.size)})`);
  if (big) parts.push(`largest growth ${mb(big.peak)} of ${mb(big.limits.mem)} (${big.c.id}, ${mb(big.size)})`);
  return parts.join("; ");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "nextscale-fuzz-"));
  if (KEEP) mkdirSync(KEEP, { recursive: true });
  const tb = performance.now();
  workerFile = await bundleWorker();
  const tiny = join(FIXTURES, "var-tiny");
  corpus = await generateCorpus({
    seed: SEED,
    files: FILES,
    fixtures: {
      "var.pth": new Uint8Array(readFileSync(join(tiny, "var.pth"))),
      "var.safetensors": new Uint8Array(readFileSync(join(tiny, "var.safetensors"))),
    },
    sentinel: (id) => join(dir, `ran-${id.replace(/[^\w.-]+/g, "_")}`),
  });
  // the tensors of the fixtures, loaded here from the unmodified bytes
  for (const [name, b] of corpus.bases) {
    if (b.tensors) continue;
    const res = await loadAll(await b.make());
    if (res.kind !== "loaded") throw new Error(`${name}: the unmodified file does not load: ${res.message}`);
    const t: ExpectedTensors = Object.create(null);
    for (const x of res.tensors) t[x.name] = { dtype: x.dtype as never, shape: x.shape, digest: x.digest };
    references.set(name, t);
  }
  const perClass = FUZZ_CLASSES.map((c) => `${c} ${corpus.cases.filter((x) => x.cls === c).length}`).join(", ");
  console.log(
    `[fuzz] seed ${SEED} (NEXTSCALE_FUZZ_SEED), ${FILES} truncations and ${FILES} flips per valid file (NEXTSCALE_FUZZ_FILES): ${corpus.cases.length} files (${perClass})${ONLY ? `, only ids containing "${ONLY}"` : ""}; worker bundled and corpus ready in ${(performance.now() - tb).toFixed(0)} ms`,
  );
  console.log("[fuzz] backend: none used (pure I/O: the test and its workers never touch tfjs)");
  console.log(
    `[fuzz] limits per file: memory growth ${MEM_FACTOR}x the file + ${MEM_ALLOWANCE / MiB} MiB (heapUsed + arrayBuffers, sampled every 2 ms and after every read; JS heap capped at that + 64 MiB; process RSS at that + ${RSS_ALLOWANCE / MiB} MiB), bytes read ${READ_FACTOR}x the file + ${READ_ALLOWANCE / MiB} MiB, wall clock ${TIME_BASE_MS} ms + ${TIME_PER_MIB_MS} ms per MiB`,
  );
}, 120_000);

afterAll(() => {
  if (!runs.length) return;
  const lines = FUZZ_CLASSES.map((c) => runs.filter((r) => r.c.cls === c)).filter((rs) => rs.length).map((rs) => report(rs[0].c.cls, rs));
  lines.push(report("all", runs));
  const bad = runs.filter((r) => r.failure && !r.pending).length;
  lines.push(
    bad
      ? `[fuzz] ${bad} of ${runs.length} files FAILED (seed ${SEED})`
      : `[fuzz] every one of the ${runs.length - runs.filter((r) => r.pending).length} files ended in a clean CheckpointFormatError or a verified load (or a load the format cannot check)${runs.some((r) => r.pending) ? `; ${runs.filter((r) => r.pending).length} pending a loader fix` : ""}; seed ${SEED}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  console.log(lines.join("\n"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("fuzz corpus", () => {
  it("is a function of the seed: same seed, same files; another seed, other random files", async () => {
    const gen = (seed: number) => generateCorpus({ seed, files: 4, fixtures: {}, sentinel: (id) => join(dir, `ran-${id.replace(/[^\w.-]+/g, "_")}`) });
    const digests = async (c: Corpus) => Promise.all(c.cases.map(async (x) => `${x.id} ${crc32(await x.make()).toString(16)}`));
    const [a, b, other] = await Promise.all([gen(SEED), gen(SEED), gen(SEED + 1)]);
    const [da, db, dother] = await Promise.all([digests(a), digests(b), digests(other)]);
    expect(db).toEqual(da);
    const random = (d: string[]) => d.filter((x) => x.startsWith("random/") && !x.includes(":unchanged"));
    expect(random(dother).filter((x, i) => x !== random(da)[i]).length).toBeGreaterThan(random(da).length / 2);
    console.log(`[fuzz] corpus fingerprint for seed ${SEED} (synthetic files, 4 mutations each): ${crc32(new TextEncoder().encode(da.join("\n"))).toString(16)}, ${da.length} files`);
  }, 120_000);
});

describe("fuzz: hostile and corrupted checkpoints end in a clean error or a verified load, within time and memory", () => {
  for (const cls of FUZZ_CLASSES) {
    it(cls, async () => {
      const cases = corpus.cases.filter((c) => c.cls === cls && (!ONLY || c.id.includes(ONLY)));
      const rs: Run[] = [];
      for (const c of cases) {
        const r = await runCase(c, corpus.cases.indexOf(c));
        rs.push(r);
        runs.push(r);
      }
      const lines = [report(cls, rs)];
      for (const r of rs) {
        if (r.failure) {
          lines.push(`  ${r.pending ? "PENDING" : "FAIL"} ${r.c.id} (${r.c.note}; ${mb(r.size)}, ${r.ms.toFixed(0)} ms): ${r.pending ? `[${r.pending}] ` : ""}${r.failure}`);
        } else if (VERBOSE) lines.push(`  ok ${r.c.id} (${r.c.note}; ${mb(r.size)}, ${r.ms.toFixed(0)} ms, ${mb(r.peak)}): ${r.verdict}${r.message ? `: ${r.message.slice(0, 160)}` : ""}`);
      }
      for (const p of PENDING) {
        const matched = rs.filter((r) => p.id.test(r.c.id));
        if (matched.length && matched.every((r) => !r.failure)) lines.push(`  now passes, remove from PENDING: ${p.id} (${p.why})`);
      }
      if (rs.some((r) => r.failure && !r.pending)) lines.push(`  reproduce: NEXTSCALE_FUZZ_SEED=${SEED} NEXTSCALE_FUZZ_FILES=${FILES} NEXTSCALE_FUZZ_ONLY=<id> NEXTSCALE_FUZZ_KEEP=/tmp/fuzz npx vitest run src/io/fuzz.test.ts`);
      console.log(lines.join("\n"));
      expect(rs.filter((r) => r.failure && !r.pending).map((r) => `${r.c.id}: ${r.failure}`)).toEqual([]);
    }, 600_000);
  }
});
