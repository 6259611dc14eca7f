/**
 * The same line plots as `renderLinePlot` (the same `PlotSeries` and
 * `PlotOptions`: title, axis labels, log axes, legend, markers, dashed
 * lines), written as SVG text: sharp at any zoom, and readable by tools and
 * tests as XML. Dependency-free, deterministic.
 */
import { formatTick, niceTicks, PLOT_PALETTE, type PlotOptions, type PlotSeries } from "./plot.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const n2 = (v: number) => Number(v.toFixed(2));

/** One axis: data bounds widened by 4%, in log10 units on a log axis. */
function axis(values: number[], log: boolean) {
  const t = (v: number) => (log ? Math.log10(v) : v);
  let lo = Math.min(...values.map(t));
  let hi = Math.max(...values.map(t));
  if (!(lo < hi)) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.04;
  lo -= pad;
  hi += pad;
  const inv = (v: number) => (log ? 10 ** v : v);
  const ticks = niceTicks(inv(lo), inv(hi), 5, { log }).filter((v) => t(v) >= lo - 1e-9 && t(v) <= hi + 1e-9);
  return { lo, hi, t, ticks };
}

/** `series` as an SVG document (`width` × `height`, default 640 × 400). Throws for a size under 100. */
export function linePlotSvg(series: PlotSeries[], opts: PlotOptions = {}): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 400;
  if (!(Number.isInteger(width) && width >= 100 && Number.isInteger(height) && height >= 100)) throw new Error(`linePlotSvg: width and height must be integers ≥ 100 (got ${width}×${height})`);
  const logX = opts.logX ?? false;
  const logY = opts.logY ?? false;
  const ok = (v: number, log: boolean) => Number.isFinite(v) && (!log || v > 0);
  const pts = series.map((s) => s.points.filter((p) => ok(p[0], logX) && ok(p[1], logY)));
  const all = pts.flat();
  const xa = axis(all.length ? all.map((p) => p[0]) : logX ? [1, 10] : [0, 1], logX);
  const ya = axis(all.length ? all.map((p) => p[1]) : logY ? [1, 10] : [0, 1], logY);
  const left = opts.yLabel ? 78 : 60;
  const top = opts.title ? 40 : 16;
  const bottom = opts.xLabel ? 52 : 32;
  const right = 16;
  const [x0, x1, y0, y1] = [left, width - right, top, height - bottom];
  const X = (v: number) => n2(x0 + ((xa.t(v) - xa.lo) / (xa.hi - xa.lo)) * (x1 - x0));
  const Y = (v: number) => n2(y1 - ((ya.t(v) - ya.lo) / (ya.hi - ya.lo)) * (y1 - y0));
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (opts.title) o.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(opts.title)}</text>`);
  for (const v of xa.ticks) {
    o.push(`<line x1="${X(v)}" y1="${y0}" x2="${X(v)}" y2="${y1}" stroke="#e0e0e0"/>`);
    o.push(`<text x="${X(v)}" y="${y1 + 16}" text-anchor="middle">${esc(formatTick(v))}</text>`);
  }
  for (const v of ya.ticks) {
    o.push(`<line x1="${x0}" y1="${Y(v)}" x2="${x1}" y2="${Y(v)}" stroke="#e0e0e0"/>`);
    o.push(`<text x="${x0 - 6}" y="${Y(v) + 4}" text-anchor="end">${esc(formatTick(v))}</text>`);
  }
  o.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#404040"/>`);
  if (opts.xLabel) o.push(`<text x="${(x0 + x1) / 2}" y="${height - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) o.push(`<text transform="translate(16 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  o.push(`<clipPath id="area"><rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}"/></clipPath><g clip-path="url(#area)">`);
  const colors = series.map((s, i) => {
    const c = s.color ?? PLOT_PALETTE[i % PLOT_PALETTE.length];
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  });
  series.forEach((s, i) => {
    const p = pts[i];
    if (!s.lineless && p.length > 1) {
      o.push(`<polyline fill="none" stroke="${colors[i]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 5"' : ""} points="${p.map((q) => `${X(q[0])},${Y(q[1])}`).join(" ")}"/>`);
    }
    if (s.markers || s.lineless || p.length === 1) for (const q of p) o.push(`<circle cx="${X(q[0])}" cy="${Y(q[1])}" r="3.5" fill="${colors[i]}"/>`);
  });
  o.push("</g>");
  if (!all.length) o.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#707070" font-size="20">no data</text>`);
  if (series.length > 1) {
    const lw = Math.max(...series.map((s) => s.name.length)) * 6.6 + 40;
    const bx = x1 - lw - 8;
    o.push(`<g><rect x="${bx}" y="${y0 + 8}" width="${lw}" height="${series.length * 16 + 8}" fill="white" fill-opacity="0.9" stroke="#707070"/>`);
    series.forEach((s, i) => {
      const y = y0 + 20 + i * 16;
      o.push(`<line x1="${bx + 6}" y1="${y - 4}" x2="${bx + 26}" y2="${y - 4}" stroke="${colors[i]}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ""}${s.lineless ? ' stroke-opacity="0"' : ""}/>`);
      if (s.markers || s.lineless) o.push(`<circle cx="${bx + 16}" cy="${y - 4}" r="3.5" fill="${colors[i]}"/>`);
      o.push(`<text x="${bx + 32}" y="${y}">${esc(s.name)}</text>`);
    });
    o.push("</g>");
  }
  o.push("</svg>");
  return `${o.join("\n")}\n`;
}
