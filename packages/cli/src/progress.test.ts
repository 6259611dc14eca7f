/**
 * The progress bars: off a terminal a bar prints at most a line per 10% (and
 * with `minInterval`, a task shorter than that prints one line), in place on
 * a terminal; loading bars show bytes, rate and ETA per checkpoint, from the
 * loader's real counts. The clock is simulated (vi.setSystemTime).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadingBars, progressBar } from "./progress.js";

function capture() {
  const lines: string[] = [];
  let raw = "";
  return {
    io: {
      out: () => {},
      err: (s: string) => {
        raw += s;
        lines.push(...s.split("\n").filter(Boolean));
      },
    },
    lines,
    raw: () => raw,
  };
}

describe("progress bars", () => {
  const isTTY = process.stderr.isTTY;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
    Object.defineProperty(process.stderr, "isTTY", { value: false, configurable: true });
  });
  afterEach(() => {
    vi.useRealTimers();
    Object.defineProperty(process.stderr, "isTTY", { value: isTTY, configurable: true });
  });

  it("a 4 GB checkpoint loading over a minute, off a terminal: at most 11 lines, with bytes, rate and ETA", () => {
    const c = capture();
    const bars = loadingBars(c.io);
    const total = 4e9;
    const tensors = 500;
    const t0 = Date.now();
    for (let i = 0; i <= tensors; i++) {
      vi.setSystemTime(t0 + i * 120); // 60 s in all
      bars({ model: "var", file: "/cache/var_d30.pth", key: `k${i}`, loaded: i, total: tensors, bytes: (total * i) / tensors, totalBytes: total });
    }
    expect(c.lines.length).toBeGreaterThanOrEqual(5);
    expect(c.lines.length).toBeLessThanOrEqual(11);
    for (const l of c.lines) expect(l).toMatch(/^loading var_d30\.pth \[[#-]{24}\] \d+(\.\d+)? (B|kB|MB|GB)\/4\.00 GB \d+% \d+(\.\d+)? MB\/s ETA \d+s$/);
    expect(c.lines.at(-1)).toMatch(/\[#{24}\] 4\.00 GB\/4\.00 GB 100% 66\.\d MB\/s ETA 0s$/);
    expect(c.lines[0]).toMatch(/ETA (4\d|5\d)s$/); // about 54 s left at 10%
  });

  it("tiny files loaded within a second: one line per file, each at 100%", () => {
    const c = capture();
    const bars = loadingBars(c.io);
    const t0 = Date.now();
    for (const [model, file, n] of [
      ["var", "var.pth", 38],
      ["vae", "vae.pth", 324],
    ] as const) {
      for (let i = 0; i <= n; i++) {
        vi.setSystemTime(t0 + i);
        bars({ model, file, key: "", loaded: i, total: n, bytes: i * 1000, totalBytes: n * 1000 });
      }
    }
    expect(c.lines).toHaveLength(2);
    expect(c.lines[0]).toMatch(/^loading var\.pth \[#{24}\] 38\.0 kB\/38\.0 kB 100% /);
    expect(c.lines[1]).toMatch(/^loading vae\.pth \[#{24}\] 324 kB\/324 kB 100% /);
  });

  it("without minInterval (generation): a line per 10%", () => {
    const c = capture();
    const bar = progressBar(c.io, "generate", "tok");
    const t0 = Date.now();
    for (let i = 1; i <= 680; i++) {
      vi.setSystemTime(t0 + i);
      bar({ done: i, total: 680 });
    }
    expect(c.lines).toHaveLength(11); // 0% (the first event), 10% … 90%, 100%
    expect(c.lines.at(-1)).toMatch(/^generate \[#{24}\] 680\/680 100% [\d.]+ tok\/s ETA 0s$/);
  });

  it("on a terminal: redrawn in place (\\r), a newline when done; no ETA before a rate exists", () => {
    Object.defineProperty(process.stderr, "isTTY", { value: true, configurable: true });
    const c = capture();
    const bars = loadingBars(c.io);
    const t0 = Date.now();
    bars({ model: "vae", file: "vae.pth", key: "", loaded: 0, total: 2, bytes: 0, totalBytes: 2e6 });
    vi.setSystemTime(t0 + 1000);
    bars({ model: "vae", file: "vae.pth", key: "a", loaded: 1, total: 2, bytes: 1e6, totalBytes: 2e6 });
    vi.setSystemTime(t0 + 2000);
    bars({ model: "vae", file: "vae.pth", key: "b", loaded: 2, total: 2, bytes: 2e6, totalBytes: 2e6 });
    const parts = c.raw().split("\r").slice(1);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toMatch(/ 0 B\/2\.0 MB 0% 0 B\/s ETA \?$/);
    expect(parts[1]).toMatch(/ 1\.0 MB\/2\.0 MB 50% 1\.0 MB\/s ETA 1s\s*$/);
    expect(parts[2]).toMatch(/ 2\.0 MB\/2\.0 MB 100% 1\.0 MB\/s ETA 0s\s*\n$/);
  });
});
