import { decodeImage, imageGrid, type RgbImage, toUint8Rgb } from "@nextscale/core";
import { describe, expect, it } from "vitest";
import { formatTick, linePlotPng, niceTicks, PLOT_PALETTE, type PlotSeries, renderLinePlot } from "./plot.js";

/** Pixels of `img` whose colour rounds to the 8-bit colour `c` (as a PNG stores it). */
function pixelsOf(img: RgbImage, c: readonly [number, number, number]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 3;
      if ([0, 1, 2].every((k) => Math.round(img.data[i + k] * 255) === c[k])) out.push([x, y]);
    }
  }
  return out;
}

function bbox(px: Array<[number, number]>) {
  expect(px.length, "no pixels of that colour").toBeGreaterThan(0);
  const xs = px.map((p) => p[0]);
  const ys = px.map((p) => p[1]);
  return { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
}

/** Largest distance of `px` from the line through (ax, ay) and (bx, by). */
function maxDistance(px: Array<[number, number]>, ax: number, ay: number, bx: number, by: number): number {
  const len = Math.hypot(bx - ax, by - ay);
  return Math.max(...px.map(([x, y]) => Math.abs((bx - ax) * (ay - y) - (ax - x) * (by - ay)) / len));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const BLUE = PLOT_PALETTE[0];
const ORANGE = PLOT_PALETTE[1];

describe("niceTicks", () => {
  it("uses 1-2-5 steps inside the range", () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(97, 3)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 100, 10)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(niceTicks(-1, 1)).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(niceTicks(-1, 1).some((t) => Object.is(t, -0))).toBe(false);
    expect(niceTicks(0, 3000, 6)).toEqual([0, 500, 1000, 1500, 2000, 2500, 3000]);
  });

  it("rounds ticks of tiny ranges to short decimals", () => {
    expect(niceTicks(1, 1 + 1e-6)).toEqual([1, 1.0000002, 1.0000004, 1.0000006, 1.0000008, 1.000001]);
    expect(niceTicks(0, 3e-9)).toEqual([0, 5e-10, 1e-9, 1.5e-9, 2e-9, 2.5e-9, 3e-9]);
    expect(niceTicks(0.1, 0.7)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]); // no 0.30000000000000004
  });

  it("handles equal and non-finite bounds", () => {
    expect(niceTicks(5, 5)).toEqual([5]);
    expect(niceTicks(Number.NaN, 1)).toEqual([]);
    expect(niceTicks(0, Number.POSITIVE_INFINITY)).toEqual([]);
  });

  it("gives powers of 10 on log axes, with 2 and 5 multiples for small ranges", () => {
    expect(niceTicks(0.01, 10, 5, { log: true })).toEqual([0.01, 0.1, 1, 10]);
    expect(niceTicks(0.001, 1, 5, { log: true })).toEqual([0.001, 0.01, 0.1, 1]);
    expect(niceTicks(0.05, 5, 5, { log: true })).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
    const wide = niceTicks(1e-10, 1e10, 5, { log: true });
    expect(wide.length).toBeGreaterThanOrEqual(3);
    expect(wide.length).toBeLessThanOrEqual(6);
    for (const t of wide) expect(Number.isInteger(Math.log10(t))).toBe(true);
    // under one 1-2-5 step: linear ticks
    expect(niceTicks(1, 1.5, 5, { log: true })).toEqual([1, 1.1, 1.2, 1.3, 1.4, 1.5]);
    expect(niceTicks(0, 10, 5, { log: true })).toEqual([]);
  });
});

describe("formatTick", () => {
  it("writes decimals or a short exponent form", () => {
    expect(formatTick(0.001)).toBe("0.001");
    expect(formatTick(1e-5)).toBe("1e-5");
    expect(formatTick(2.5e-5)).toBe("2.5e-5");
    expect(formatTick(2e6)).toBe("2e6");
    expect(formatTick(0.1 + 0.2, 0.1)).toBe("0.3");
    expect(formatTick(1, 0.2)).toBe("1.0");
    expect(formatTick(1500, 500)).toBe("1500");
    expect(formatTick(-0.5)).toBe("-0.5");
    expect(formatTick(0, 0.2)).toBe("0");
  });

  it("uses only characters core's bitmap font draws (none falls back to '?')", () => {
    const ink = (text: string) => {
      const blank = { width: 7, height: 1, data: new Float32Array(21).fill(1) };
      return Array.from(imageGrid([blank], 1, 0, { labels: [text], labelScale: 1 }).data).join();
    };
    const question = ink("?");
    const labels = [
      ...[1e-7, 2.5e-5, 0.001, 0.05, 0.1, 1, 9, 10, 1000, 3e6, 1.5e12].map((v) => formatTick(v)),
      ...niceTicks(-1, 1).map((v) => formatTick(v, 0.5)),
      ...niceTicks(0, 1).map((v) => formatTick(v, 0.2)),
    ];
    const chars = new Set(labels.join(""));
    expect([...chars].sort().join("")).toBe("-.0123456789e");
    for (const ch of chars) expect(ink(ch), `"${ch}" is drawn as "?"`).not.toBe(question);
  });
});

describe("renderLinePlot", () => {
  const diagonal: PlotSeries = { name: "d", points: [[0, 0], [10, 10]] };

  it("has the requested size, white background", () => {
    const img = renderLinePlot([diagonal]);
    expect([img.width, img.height, img.data.length]).toEqual([640, 400, 640 * 400 * 3]);
    const small = renderLinePlot([diagonal], { width: 300, height: 180 });
    expect([small.width, small.height, small.data.length]).toEqual([300, 180, 300 * 180 * 3]);
    expect([...small.data.subarray(0, 3)]).toEqual([1, 1, 1]);
  });

  it("draws a straight series along the diagonal of the plot area", () => {
    const img = renderLinePlot([diagonal]);
    const px = pixelsOf(img, BLUE);
    const b = bbox(px);
    expect(b.x1 - b.x0).toBeGreaterThan(0.7 * img.width);
    expect(b.y1 - b.y0).toBeGreaterThan(0.6 * img.height);
    // rising to the right: from the bottom-left to the top-right corner of the plot area
    expect(maxDistance(px, b.x0, b.y1, b.x1, b.y0)).toBeLessThan(2.5);
    const w = b.x1 - b.x0;
    const h = b.y1 - b.y0;
    expect(px.filter(([x, y]) => x < b.x0 + w / 3 && y < b.y0 + h / 3)).toEqual([]); // top-left: empty
    expect(px.filter(([x, y]) => x > b.x1 - w / 3 && y > b.y1 - h / 3)).toEqual([]); // bottom-right: empty
    const cols = new Set(px.map((p) => p[0]));
    for (let x = b.x0; x <= b.x1; x++) expect(cols.has(x), `column ${x}`).toBe(true);
    // only one series: no legend box
    expect(pixelsOf(img, [115, 115, 115])).toEqual([]);
  });

  it("breaks the line at a NaN", () => {
    const pts = range(11).map((i) => [i, i] as [number, number]);
    const gap = (points: Array<[number, number]>) => {
      const px = pixelsOf(renderLinePlot([{ name: "a", points }]), BLUE);
      const b = bbox(px);
      const X = (v: number) => b.x0 + (v / 10) * (b.x1 - b.x0);
      return px.filter(([x]) => x > X(4) + 3 && x < X(6) - 3).length;
    };
    expect(gap(pts)).toBeGreaterThan(10);
    const broken = pts.map((p, i) => (i === 5 ? ([5, Number.NaN] as [number, number]) : p));
    expect(gap(broken)).toBe(0);
    const inf = pts.map((p, i) => (i === 5 ? ([5, Number.POSITIVE_INFINITY] as [number, number]) : p));
    expect(gap(inf)).toBe(0);
  });

  it("draws an exponential decay as a straight line with logY, and skips y ≤ 0 there", () => {
    const points = range(31).map((i) => [i, 10 ** (-i / 10)] as [number, number]);
    const straightness = (img: RgbImage) => {
      const px = pixelsOf(img, BLUE);
      const b = bbox(px);
      return maxDistance(px, b.x0, b.y0, b.x1, b.y1); // falling to the right
    };
    expect(straightness(renderLinePlot([{ name: "l", points }], { logY: true }))).toBeLessThan(3);
    expect(straightness(renderLinePlot([{ name: "l", points }]))).toBeGreaterThan(20);
    const withZero = points.map((p, i) => (i === 15 ? ([15, 0] as [number, number]) : i === 16 ? ([16, -1] as [number, number]) : p));
    const img = renderLinePlot([{ name: "l", points: withZero }], { logY: true });
    expect(pixelsOf(img, BLUE).length).toBeGreaterThan(200);
  });

  it("draws a lone point and an all-equal series", () => {
    const one = pixelsOf(renderLinePlot([{ name: "p", points: [[3, 7]] }]), BLUE);
    expect(one.length).toBeGreaterThanOrEqual(9);
    const b1 = bbox(one);
    expect(Math.abs((b1.x0 + b1.x1) / 2 - 320)).toBeLessThan(80); // the padded range centres it
    const flat = pixelsOf(renderLinePlot([{ name: "f", points: range(20).map((i) => [i, 0.5] as [number, number]) }]), BLUE);
    const b2 = bbox(flat);
    expect(b2.x1 - b2.x0).toBeGreaterThan(400);
    expect(b2.y1 - b2.y0).toBeLessThanOrEqual(2);
    expect(Math.abs((b2.y0 + b2.y1) / 2 - 200)).toBeLessThan(60);
    // a line along the edge of the plot area keeps its 2 px
    const floor = renderLinePlot([
      { name: "zero", points: range(20).map((i) => [i, 0] as [number, number]) },
      { name: "up", points: range(20).map((i) => [i, i] as [number, number]) },
    ]);
    const rows = new Set(pixelsOf(floor, BLUE).filter((p) => p[1] > floor.height / 2).map((p) => p[1])); // (not the legend swatch)
    expect(rows.size).toBe(2);
  });

  it("shows 'no data' without throwing when nothing is drawable", () => {
    const muted = [115, 115, 115] as const; // the "no data" text colour
    for (const [series, opts] of [
      [[], {}],
      [[{ name: "nan", points: [[0, Number.NaN] as [number, number]] }], {}],
      [[{ name: "neg", points: [[1, -1] as [number, number], [2, 0] as [number, number]] }], { logY: true }],
    ] as Array<[PlotSeries[], { logY?: boolean }]>) {
      const img = renderLinePlot(series, { ...opts, title: "t" });
      expect([img.width, img.height]).toEqual([640, 400]);
      const text = pixelsOf(img, muted);
      expect(text.length).toBeGreaterThan(30);
      const b = bbox(text);
      expect(Math.abs((b.x0 + b.x1) / 2 - 340)).toBeLessThan(40);
      expect(pixelsOf(img, BLUE)).toEqual([]);
    }
    expect(linePlotPng([]).length).toBeGreaterThan(100);
  });

  it("gives series distinct colours, takes a custom colour, and adds a legend in an empty corner", () => {
    const down: PlotSeries = { name: "train", points: range(50).map((i) => [i, 50 - i] as [number, number]) };
    const down2: PlotSeries = { name: "val", points: range(50).map((i) => [i, 55 - i] as [number, number]) };
    const img = renderLinePlot([down, down2]);
    expect(pixelsOf(img, BLUE).length).toBeGreaterThan(100);
    expect(pixelsOf(img, ORANGE).length).toBeGreaterThan(100);
    const box = bbox(pixelsOf(img, [115, 115, 115]));
    expect(box.x0).toBeGreaterThan(img.width / 2); // lines fall to the right: the top-right corner is empty
    expect(box.y1).toBeLessThan(img.height / 2);
    const magenta = renderLinePlot([{ ...down, color: [255, 0, 255] }, down2]);
    expect(pixelsOf(magenta, [255, 0, 255]).length).toBeGreaterThan(100);
    expect(pixelsOf(magenta, BLUE)).toEqual([]);
    for (let i = 0; i < PLOT_PALETTE.length; i++) {
      for (let j = 0; j < i; j++) {
        const d = Math.hypot(...PLOT_PALETTE[i].map((v, k) => v - PLOT_PALETTE[j][k]));
        expect(d, `palette ${i} vs ${j}`).toBeGreaterThan(60);
      }
    }
    expect(() => renderLinePlot([{ ...down, color: [300, 0, 0] }])).toThrow(/color/);
  });

  it("keeps the legend to half the plot height with many series, and leaves it out of a tiny plot", () => {
    const many = range(40).map((n) => ({ name: `run ${n}`, points: range(10).map((i) => [i, n + i] as [number, number]) }));
    const img = renderLinePlot(many);
    const box = bbox(pixelsOf(img, [115, 115, 115]));
    expect(box.y1 - box.y0).toBeLessThan(img.height / 2);
    const tiny = renderLinePlot(many.slice(0, 2), { width: 100, height: 100, title: "t", xLabel: "x", yLabel: "y" });
    expect(pixelsOf(tiny, [115, 115, 115])).toEqual([]);
    expect(pixelsOf(tiny, ORANGE).length).toBeGreaterThan(20);
  });

  it("draws the title and axis labels", () => {
    const dark = (img: RgbImage, x0: number, y0: number, x1: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (img.data[(y * img.width + x) * 3] < 0.2) n++;
      return n;
    };
    const plain = renderLinePlot([diagonal]);
    const titled = renderLinePlot([diagonal], { title: "Loss", xLabel: "step", yLabel: "loss" });
    expect(dark(plain, 200, 0, 440, 20)).toBe(0);
    expect(dark(titled, 200, 0, 440, 30)).toBeGreaterThan(40);
    expect(dark(titled, 0, 150, 14, 250)).toBeGreaterThan(20); // y label, rotated, at the left edge
    expect(dark(titled, 250, 370, 390, 400)).toBeGreaterThan(20); // x label at the bottom
  });

  it("rejects a size that is not an integer ≥ 100", () => {
    expect(() => renderLinePlot([diagonal], { width: 99 })).toThrow(/width must be an integer ≥ 100/);
    expect(() => renderLinePlot([diagonal], { width: 640.5 })).toThrow(/width/);
    expect(() => renderLinePlot([diagonal], { height: 50 })).toThrow(/height/);
    expect(() => renderLinePlot([diagonal], { height: Number.NaN })).toThrow(/height/);
    expect(() => renderLinePlot([diagonal], { width: 100, height: 100 })).not.toThrow();
  });
});

describe("linePlotPng", () => {
  it("encodes a PNG that decodes back to the same pixels", () => {
    const series: PlotSeries[] = [
      { name: "a", points: range(100).map((i) => [i, Math.exp(-i / 20)] as [number, number]) },
      { name: "b", points: range(100).map((i) => [i, 0.5 * Math.exp(-i / 30)] as [number, number]) },
    ];
    const opts = { title: "loss", logY: true, width: 320, height: 200 };
    const png = linePlotPng(series, opts);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const back = decodeImage(png);
    expect([back.width, back.height]).toEqual([320, 200]);
    expect(toUint8Rgb(back)).toEqual(toUint8Rgb(renderLinePlot(series, opts)));
    expect(linePlotPng(series, opts)).toEqual(png); // deterministic
  });
});
