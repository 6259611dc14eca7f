/**
 * Line plots (loss curves) rasterised without dependencies: series of
 * (x, y) points drawn as 2-px lines on a white background with axes, ticks,
 * tick labels, light grid lines, a title, axis labels and, for more than one
 * series, a legend; linear or log axes. Text uses @nextscale/core's 5×9
 * bitmap font; `linePlotPng` encodes with core's `encodePng`. Deterministic:
 * the same series and options give the same pixels.
 */
import { encodePng, GLYPH_H, GLYPH_W, glyphPixel, type RgbImage, textWidth } from "@nextscale/core";

/** One line of a plot. */
export interface PlotSeries {
  /** Shown in the legend (when there is more than one series). Characters the font lacks are drawn as "?". */
  name: string;
  /**
   * (x, y) pairs, joined in the order given. A point with a non-finite
   * coordinate (NaN, ±Infinity), or ≤ 0 on a log axis, is left out and
   * breaks the line there; a point with no neighbour left is drawn as a dot.
   */
  points: ReadonlyArray<readonly [number, number]>;
  /** Line colour as 8-bit RGB, each 0–255 (default: the next colour of `PLOT_PALETTE`). */
  color?: [number, number, number];
  /** Draw each point as a dot (a scatter when `lineless`) (default false). */
  markers?: boolean;
  /** Leave out the joining lines: only the dots (implies `markers`) (default false). */
  lineless?: boolean;
  /** Draw the line dashed (a fitted law beside measured curves) (default false). */
  dashed?: boolean;
}

/** How a plot is laid out. */
export interface PlotOptions {
  /** Drawn centred above the plot (default: none). */
  title?: string;
  /** Drawn centred below the x axis (default: none). */
  xLabel?: string;
  /** Drawn along the y axis, reading upwards (default: none). */
  yLabel?: string;
  /** Log-scale y axis (powers of 10 as ticks); points with y ≤ 0 are left out (default false). */
  logY?: boolean;
  /** Log-scale x axis; points with x ≤ 0 are left out (default false). */
  logX?: boolean;
  /** Image width in pixels, an integer ≥ 100 (default 640). */
  width?: number;
  /** Image height in pixels, an integer ≥ 100 (default 400). */
  height?: number;
}

/** The series colours in order (8-bit RGB; matplotlib's "tab10"); series n gets colour n mod 10. */
export const PLOT_PALETTE: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** Options of `niceTicks`. */
export interface NiceTicksOptions {
  /** Ticks for a log axis: powers of 10 (with 2× and 5× multiples when the range is under 2 decades); min and max must be > 0. */
  log?: boolean;
}

type Rgb = readonly [number, number, number];

// core's bitmap font cell (GLYPH_W × GLYPH_H in font.ts; a character advances GLYPH_W + 1)
const BLACK: Rgb = [0, 0, 0];
const TEXT: Rgb = [0.1, 0.1, 0.1];
const GRID: Rgb = [0.88, 0.88, 0.88];
const MINOR: Rgb = [0.95, 0.95, 0.95];
const FRAME: Rgb = [0.25, 0.25, 0.25];
const MUTED: Rgb = [0.45, 0.45, 0.45];
const EPS = 1e-9;

/** 1, 2 or 5 × 10^e: the nice step nearest `raw` (> 0), with its mantissa and exponent. */
function niceStep(raw: number): { step: number; exp: number } {
  let exp = Math.floor(Math.log10(raw));
  const norm = raw / 10 ** exp;
  let m = norm >= Math.sqrt(50) ? 10 : norm >= Math.sqrt(10) ? 5 : norm >= Math.sqrt(2) ? 2 : 1;
  if (m === 10) {
    m = 1;
    exp += 1;
  }
  return { step: Number(`${m}e${exp}`), exp };
}

/** i × step rounded to the step's decimals (no 0.30000000000000004). */
function roundToStep(v: number, exp: number): number {
  const d = Math.max(0, -exp);
  return d <= 100 ? Number(v.toFixed(d)) : Number(v.toPrecision(15));
}

/** The multiples of `step` in [lo, hi] (inclusive, up to rounding). */
function stepTicks(lo: number, hi: number, step: number, exp: number): number[] {
  const i0 = Math.ceil(lo / step - EPS);
  const i1 = Math.floor(hi / step + EPS);
  const out: number[] = [];
  for (let i = i0; i <= i1 && out.length < 1000; i++) {
    const v = roundToStep(i * step, exp);
    if (out[out.length - 1] !== v) out.push(Object.is(v, -0) ? 0 : v);
  }
  return out;
}

const inRange = (v: number, lo: number, hi: number) => v >= lo * (1 - EPS) && v <= hi * (1 + EPS);

/** {1, 2, 5} × 10^k in [lo, hi] (lo > 0). */
function oneTwoFive(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = Number(`${m}e${k}`);
      if (inRange(v, lo, hi)) out.push(v);
    }
  }
  return out;
}

/**
 * Round tick values between `min` and `max` (inclusive; swapped if given
 * the other way round), about `count` + 1 of them (default 5 → up to 6):
 * multiples of a 1-2-5 step (0..1 → 0, 0.2, …, 1; 3..97 → 20, 40, 60, 80),
 * rounded so they print short. With `{ log: true }`: the powers of 10 in the
 * range (every k-th power for a wide range), or, when the range holds fewer
 * than 3 powers, its {1, 2, 5} × 10^k values, or, when those are fewer than 3
 * too, linear ticks. min = max gives [min]; non-finite bounds (or ≤ 0 ones
 * for log) give [].
 */
export function niceTicks(min: number, max: number, count = 5, opts: NiceTicksOptions = {}): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min > max) [min, max] = [max, min];
  const n = Math.max(1, Math.round(count));
  if (opts.log) {
    if (min <= 0) return [];
    if (min === max) return [min];
    const k0 = Math.ceil(Math.log10(min) - EPS);
    const k1 = Math.floor(Math.log10(max) + EPS);
    if (k1 - k0 + 1 >= 3) {
      const every = Math.max(1, Math.ceil((k1 - k0) / n));
      const out: number[] = [];
      for (let k = k0; k <= k1; k++) if (k % every === 0) out.push(Number(`1e${k}`));
      return out;
    }
    const ticks = oneTwoFive(min, max);
    if (ticks.length >= 3) return ticks;
    return niceTicks(min, max, count);
  }
  if (min === max) return [min];
  const { step, exp } = niceStep((max - min) / n);
  return stepTicks(min, max, step, exp);
}

/** Exponent notation the font can draw: 2.5e-5, 1e6 (no "+"). */
function expForm(v: number): string {
  return v
    .toExponential(6)
    .replace(/\.?0+e/, "e")
    .replace("e+", "e");
}

/**
 * A tick label using only characters the bitmap font has (digits, ".", "-",
 * "e"): decimals for 0.001 ≤ |v| < 1e6 (with `step`, as many decimals as a
 * 1-2-5 step of that size needs, so labels of one axis line up: 0.0, 0.2),
 * exponent form otherwise (1e-5, 2.5e6).
 */
export function formatTick(v: number, step?: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return expForm(v);
  if (step !== undefined && step > 0 && Number.isFinite(step)) {
    const d = Math.max(0, Math.ceil(-Math.log10(step) - EPS));
    return v.toFixed(Math.min(d, 20));
  }
  return String(Number(v.toPrecision(12)));
}

/** One axis: its domain (transformed: log10 on a log axis), its ticks and their labels. */
interface Axis {
  log: boolean;
  lo: number;
  hi: number;
  ticks: number[];
  labels: string[];
  /** Unlabelled lighter grid lines: on a log axis of up to 6 decades, the 2..9 × 10^k not among `ticks`. */
  minor: number[];
}

const tf = (v: number, log: boolean) => (log ? Math.log10(v) : v);

/** An axis covering [min, max] (data bounds, min < max) with about `count` ticks, its ends widened to round values. */
function makeAxis(min: number, max: number, count: number, log: boolean): Axis {
  const linear = (a: number, b: number): Axis => {
    const { step, exp } = niceStep((b - a) / count);
    let lo = roundToStep(Math.floor(a / step + EPS) * step, exp);
    const hi = roundToStep(Math.ceil(b / step - EPS) * step, exp);
    if (log && lo <= 0) lo = a; // a log axis keeps a positive domain
    const ticks = stepTicks(lo, hi, step, exp);
    // exponent form for the whole axis when its largest value needs it
    const big = Math.max(Math.abs(lo), Math.abs(hi));
    const labels = ticks.map((t) => (big >= 1e6 || big < 1e-3 ? (t === 0 ? "0" : expForm(t)) : formatTick(t, step)));
    return { log, lo: tf(lo, log), hi: tf(hi, log), ticks, labels, minor: [] };
  };
  if (!log) return linear(min, max);
  const k0 = Math.floor(Math.log10(min) + EPS);
  const k1 = Math.ceil(Math.log10(max) - EPS);
  let lo: number;
  let hi: number;
  if (k1 - k0 > count) {
    lo = Number(`1e${k0}`);
    hi = Number(`1e${k1}`);
  } else {
    // the nearest {1, 2, 5} × 10^k outside [min, max]
    const below = oneTwoFive(min / 10, min);
    const above = oneTwoFive(max, max * 10);
    lo = below[below.length - 1] ?? min;
    hi = above[0] ?? max;
    if (oneTwoFive(lo, hi).length < 3) return linear(min, max);
  }
  const ticks = niceTicks(lo, hi, count, { log: true });
  const minor: number[] = [];
  if (Math.log10(hi / lo) <= 6) {
    for (let k = Math.floor(Math.log10(lo)); k < Math.ceil(Math.log10(hi)); k++) {
      for (let m = 2; m <= 9; m++) {
        const v = Number(`${m}e${k}`);
        if (inRange(v, lo, hi) && !ticks.includes(v)) minor.push(v);
      }
    }
  }
  return { log, lo: tf(lo, log), hi: tf(hi, log), ticks, labels: ticks.map((t) => formatTick(t)), minor };
}

/** The ink of `text` in core's bitmap font at scale 1 (w × GLYPH_H, 1 = ink). */
interface TextMask {
  w: number;
  h: number;
  ink: Uint8Array;
}

/** Rasterise `text` with core's bitmap font at scale 1. */
function textMask(text: string): TextMask {
  const chars = [...text];
  const w = textWidth(text);
  const ink = new Uint8Array(w * GLYPH_H);
  chars.forEach((ch, n) => {
    for (let y = 0; y < GLYPH_H; y++) for (let x = 0; x < GLYPH_W; x++) if (glyphPixel(ch, x, y)) ink[y * w + n * (GLYPH_W + 1) + x] = 1;
  });
  return { w, h: GLYPH_H, ink };
}

/** Width in pixels of `text` at `scale`. */
const textW = (text: string, scale: number) => textWidth(text, scale);

/** `text` cut to fit `width` pixels at `scale`, ending in ".." when cut. */
function fitText(text: string, width: number, scale: number): string {
  const chars = [...text];
  if (textW(text, scale) <= width) return text;
  let n = chars.length;
  while (n > 0 && textW("x".repeat(n + 2), scale) > width) n--;
  return n > 0 ? `${chars.slice(0, n).join("").trimEnd()}..` : "";
}

/** A white RGB float canvas with clipped drawing. */
class Canvas {
  readonly data: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Float32Array(width * height * 3).fill(1);
  }

  set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }

  /** Fill the inclusive rectangle [x0, x1] × [y0, y1]. */
  fill(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) this.set(x, y, c);
  }

  /** Draw `text` with its top-left corner at (x, y); `up`: rotated to read bottom to top (its box is then h × w). */
  text(text: string, x: number, y: number, scale: number, c: Rgb, up = false): void {
    const m = textMask(text);
    for (let my = 0; my < m.h; my++) {
      for (let mx = 0; mx < m.w; mx++) {
        if (!m.ink[my * m.w + mx]) continue;
        const px = up ? x + my * scale : x + mx * scale;
        const py = up ? y + (m.w - 1 - mx) * scale : y + my * scale;
        this.fill(px, py, px + scale - 1, py + scale - 1, c);
      }
    }
  }
}

/** Pixel rectangle (inclusive) lines are clipped to. */
interface Clip {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A 2-px brush centred on (x, y), clipped; marks what it paints in `ink`. */
function dab(cv: Canvas, clip: Clip, ink: Uint8Array, x: number, y: number, c: Rgb, r = 1): void {
  const bx = Math.floor(x - 0.5) - (r - 1);
  const by = Math.floor(y - 0.5) - (r - 1);
  for (let py = by; py < by + 2 * r; py++) {
    if (py < clip.y0 || py > clip.y1) continue;
    for (let px = bx; px < bx + 2 * r; px++) {
      if (px < clip.x0 || px > clip.x1) continue;
      cv.set(px, py, c);
      ink[py * cv.width + px] = 1;
    }
  }
}

/** A 2-px line from (xa, ya) to (xb, yb) in pixel coordinates (DDA), clipped. */
function line(cv: Canvas, clip: Clip, ink: Uint8Array, xa: number, ya: number, xb: number, yb: number, c: Rgb, dashed = false): void {
  const n = Math.max(1, Math.ceil(Math.max(Math.abs(xb - xa), Math.abs(yb - ya)) * 2));
  const len = Math.hypot(xb - xa, yb - ya);
  for (let i = 0; i <= n; i++) {
    if (dashed && Math.floor(((len * i) / n) / 6) % 2 === 1) continue; // 6 px on, 6 px off
    dab(cv, clip, ink, xa + ((xb - xa) * i) / n, ya + ((yb - ya) * i) / n, c);
  }
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 100) throw new Error(`renderLinePlot: ${name} must be an integer ≥ 100 (got ${v})`);
}

function seriesColor(s: PlotSeries, n: number): Rgb {
  const c = s.color ?? PLOT_PALETTE[n % PLOT_PALETTE.length];
  if (c.length !== 3 || c.some((v) => !Number.isFinite(v) || v < 0 || v > 255)) {
    throw new Error(`renderLinePlot: series "${s.name}" color must be 3 numbers in 0..255 (got [${c.join(", ")}])`);
  }
  return [c[0] / 255, c[1] / 255, c[2] / 255];
}

/** A domain of at least some width around equal bounds. */
function padded(min: number, max: number, log: boolean): [number, number] {
  if (max > min) return [min, max];
  if (log) return [min / 2, min * 2];
  const d = min === 0 ? 1 : Math.abs(min) * 0.1;
  return [min - d, min + d];
}

/**
 * Draw `series` as a line plot: white background, framed plot area with
 * ticks, tick labels and light grid lines, `title` on top, axis labels, one
 * colour per series (`PLOT_PALETTE` unless a series has `color`), and a
 * legend in the emptiest corner when there is more than one series (up to
 * half the plot's height, then "+N more"; none where it would not fit, in
 * very small images). Tick labels that would touch are thinned out. With no
 * series or no drawable point, the axes are drawn with "no data" in the
 * middle. Throws for a width or height that is not an integer ≥ 100, or a
 * colour outside 0..255.
 */
export function renderLinePlot(series: PlotSeries[], opts: PlotOptions = {}): RgbImage {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  checkSize("width", width);
  checkSize("height", height);
  const logX = opts.logX ?? false;
  const logY = opts.logY ?? false;
  const colors = series.map(seriesColor);

  // the drawable points of each series, split into runs where points are left out
  const ok = (v: number, log: boolean) => Number.isFinite(v) && (!log || v > 0);
  const runs: Array<Array<Array<readonly [number, number]>>> = series.map((s) => {
    const out: Array<Array<readonly [number, number]>> = [];
    let cur: Array<readonly [number, number]> = [];
    for (const p of s.points) {
      if (ok(p[0], logX) && ok(p[1], logY)) cur.push(p);
      else if (cur.length) {
        out.push(cur);
        cur = [];
      }
    }
    if (cur.length) out.push(cur);
    return out;
  });
  let [xMin, xMax, yMin, yMax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of runs.flat(2)) {
    xMin = Math.min(xMin, p[0]);
    xMax = Math.max(xMax, p[0]);
    yMin = Math.min(yMin, p[1]);
    yMax = Math.max(yMax, p[1]);
  }
  const empty = !(xMin <= xMax);
  if (empty) {
    [xMin, xMax] = logX ? [1, 10] : [0, 1];
    [yMin, yMax] = logY ? [1, 10] : [0, 1];
  }
  [xMin, xMax] = padded(xMin, xMax, logX);
  [yMin, yMax] = padded(yMin, yMax, logY);

  // layout (s: font pixel size)
  const s = Math.max(1, Math.floor(Math.min(width / 640, height / 400)));
  const charH = GLYPH_H * s;
  const pad = 8 * s;
  const gap = 4 * s;
  const tick = 4 * s;
  const title = opts.title ? fitText(opts.title, width - 2 * pad, s) : "";
  const titleScale = title && textW(title, 2 * s) <= width - 2 * pad ? 2 * s : s;
  const top = title ? pad + GLYPH_H * titleScale + 2 * gap : pad + charH;
  const bottom = tick + gap + charH + (opts.xLabel ? 2 * gap + charH : 0) + pad;
  const plotH = height - top - bottom;
  const yAxis = makeAxis(yMin, yMax, Math.min(8, Math.max(2, Math.round(plotH / (45 * s)))), logY);
  const yLabelW = Math.max(0, ...yAxis.labels.map((l) => textW(l, s)));
  const left = pad + (opts.yLabel ? charH + 2 * gap : 0) + yLabelW + gap + tick;
  // x ticks: as many as fit without their labels touching
  let xAxis = makeAxis(xMin, xMax, 2, logX);
  let right = pad;
  for (let count = 10; count >= 2; count--) {
    if (count > 2 && count * 60 * s > width - left - 2 * pad) continue;
    const ax = makeAxis(xMin, xMax, count, logX);
    const last = ax.labels[ax.labels.length - 1] ?? "";
    const rr = Math.max(2 * pad, Math.ceil(textW(last, s) / 2) + pad);
    const pos = ax.ticks.map((t) => ((tf(t, logX) - ax.lo) / (ax.hi - ax.lo)) * (width - left - rr));
    const fits = ax.labels.every((l, i) => i === 0 || pos[i] - pos[i - 1] >= (textW(l, s) + textW(ax.labels[i - 1], s)) / 2 + 3 * gap);
    xAxis = ax;
    right = rr;
    if (fits) break;
  }
  const x0 = left;
  const x1 = width - right - 1;
  const y0 = top;
  const y1 = height - bottom - 1;
  if (x1 - x0 < 10 || y1 - y0 < 10) throw new Error(`renderLinePlot: ${width}x${height} leaves no room for the plot area (labels too wide?)`);
  const X = (v: number) => x0 + ((tf(v, logX) - xAxis.lo) / (xAxis.hi - xAxis.lo)) * (x1 - x0);
  const Y = (v: number) => y1 - ((tf(v, logY) - yAxis.lo) / (yAxis.hi - yAxis.lo)) * (y1 - y0);

  const cv = new Canvas(width, height);
  // grid, frame, ticks, tick labels
  const xt = xAxis.ticks.map((t) => Math.round(X(t)));
  const yt = yAxis.ticks.map((t) => Math.round(Y(t)));
  for (const t of xAxis.minor) cv.fill(Math.round(X(t)), y0, Math.round(X(t)), y1, MINOR);
  for (const t of yAxis.minor) cv.fill(x0, Math.round(Y(t)), x1, Math.round(Y(t)), MINOR);
  for (const px of xt) cv.fill(px, y0, px, y1, GRID);
  for (const py of yt) cv.fill(x0, py, x1, py, GRID);
  cv.fill(x0, y0, x1, y0, FRAME);
  cv.fill(x0, y1, x1, y1, FRAME);
  cv.fill(x0, y0, x0, y1, FRAME);
  cv.fill(x1, y0, x1, y1, FRAME);
  // a label that would touch the one before it is left out (only in small plots)
  let after = -Infinity;
  xt.forEach((px, i) => {
    cv.fill(px, y1 + 1, px, y1 + tick, FRAME);
    const l = xAxis.labels[i];
    const lx = px - Math.floor(textW(l, s) / 2);
    if (lx < after + 2 * gap) return;
    cv.text(l, lx, y1 + tick + gap, s, TEXT);
    after = lx + textW(l, s);
  });
  after = Infinity;
  yt.forEach((py, i) => {
    cv.fill(x0 - tick, py, x0 - 1, py, FRAME);
    const l = yAxis.labels[i];
    const ly = py - Math.floor(charH / 2);
    if (ly + charH + gap > after) return;
    cv.text(l, x0 - tick - gap - textW(l, s), ly, s, TEXT);
    after = ly;
  });
  if (title) cv.text(title, Math.floor((width - textW(title, titleScale)) / 2), pad, titleScale, BLACK);
  if (opts.xLabel) {
    const l = fitText(opts.xLabel, x1 - x0, s);
    cv.text(l, Math.floor((x0 + x1 - textW(l, s)) / 2), y1 + tick + gap + charH + 2 * gap, s, TEXT);
  }
  if (opts.yLabel) {
    const l = fitText(opts.yLabel, y1 - y0, s);
    cv.text(l, pad, Math.floor((y0 + y1 - textW(l, s)) / 2), s, TEXT, true);
  }

  // the lines, clipped to the frame (drawn over it, so a line along an edge stays 2 px wide)
  const clip: Clip = { x0, y0, x1, y1 };
  const ink = new Uint8Array(width * height);
  runs.forEach((rs, n) => {
    for (const run of rs) {
      const sr = series[n];
      if (run.length === 1 || sr.markers || sr.lineless) for (const p of run) dab(cv, clip, ink, X(p[0]), Y(p[1]), colors[n], sr.markers || sr.lineless ? 3 : 2);
      if (sr.lineless) continue;
      for (let i = 1; i < run.length; i++) line(cv, clip, ink, X(run[i - 1][0]), Y(run[i - 1][1]), X(run[i][0]), Y(run[i][1]), colors[n], sr.dashed);
    }
  });
  if (empty) {
    const msg = "no data";
    cv.text(msg, Math.floor((x0 + x1 - textW(msg, 2 * s)) / 2), Math.floor((y0 + y1 - GLYPH_H * 2 * s) / 2), 2 * s, MUTED);
  }

  // legend: in the corner of the plot area where the lines paint least, at most half its height
  // (with "+N more" for the series that do not fit); left out where it would cover most of the plot
  const rowH = charH + gap;
  const swatch = 16 * s;
  const inner = gap * 2;
  const maxRows = Math.floor(((y1 - y0) / 2 - 2 * inner + gap) / rowH);
  const shown = series.length > maxRows ? maxRows - 1 : series.length;
  const nameW = Math.max(20 * s, Math.floor((x1 - x0) * 0.45) - swatch - 2 * inner - gap);
  const names = series.slice(0, Math.max(0, shown)).map((sr) => fitText(sr.name, nameW, s));
  if (shown < series.length) names.push(`+${series.length - shown} more`);
  const boxW = 2 * inner + swatch + gap + Math.max(...names.map((l) => textW(l, s)));
  const boxH = 2 * inner + names.length * rowH - gap;
  if (series.length > 1 && shown >= 1 && boxW <= 0.6 * (x1 - x0)) {
    const corners: Array<[number, number]> = [
      [x1 - pad - boxW, y0 + pad],
      [x0 + pad, y0 + pad],
      [x1 - pad - boxW, y1 - pad - boxH],
      [x0 + pad, y1 - pad - boxH],
    ];
    const cost = ([bx, by]: [number, number]) => {
      let c = 0;
      for (let y = Math.max(0, by); y < Math.min(height, by + boxH); y++) {
        for (let x = Math.max(0, bx); x < Math.min(width, bx + boxW); x++) c += ink[y * width + x];
      }
      return c;
    };
    const costs = corners.map(cost);
    const [bx, by] = corners[costs.indexOf(Math.min(...costs))];
    cv.fill(bx, by, bx + boxW - 1, by + boxH - 1, [1, 1, 1]);
    cv.fill(bx, by, bx + boxW - 1, by, MUTED);
    cv.fill(bx, by + boxH - 1, bx + boxW - 1, by + boxH - 1, MUTED);
    cv.fill(bx, by, bx, by + boxH - 1, MUTED);
    cv.fill(bx + boxW - 1, by, bx + boxW - 1, by + boxH - 1, MUTED);
    names.forEach((l, i) => {
      const ty = by + inner + i * rowH;
      if (i < shown) {
        const ly = ty + Math.floor(charH / 2) - 1;
        cv.fill(bx + inner, ly, bx + inner + swatch - 1, ly + 1, colors[i]);
      }
      cv.text(l, bx + inner + swatch + gap, ty, s, TEXT);
    });
  }
  return { width, height, data: cv.data };
}

/** `renderLinePlot` encoded as an 8-bit RGB PNG (core's `encodePng`). */
export function linePlotPng(series: PlotSeries[], opts: PlotOptions = {}): Uint8Array {
  return encodePng(renderLinePlot(series, opts));
}
