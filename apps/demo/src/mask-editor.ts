/**
 * The edit mask: S×S values (1 = marked) painted on a canvas laid over the
 * source image, with a brush (discs along the pointer's path) or a box
 * (dragged from corner to corner). The canvas shows the marked pixels in
 * translucent red; `values` is what the worker's `imageKeepMask` gets.
 */
export type Tool = "brush" | "box";

export class MaskEditor {
  values: Float32Array;
  private size: number;
  private start: [number, number] | null = null;
  private last: [number, number] | null = null;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly tool: () => Tool,
    private readonly brush: () => number,
    private readonly onChange: () => void,
  ) {
    this.ctx = canvas.getContext("2d")!;
    this.size = canvas.width;
    this.values = new Float32Array(this.size * this.size);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => {
      this.start = this.last = null;
      this.draw();
    });
  }

  /** Start over at side S (a new model or image), shown `zoom` times larger. */
  reset(S: number, zoom: number): void {
    this.size = S;
    this.canvas.width = this.canvas.height = S;
    this.canvas.style.width = this.canvas.style.height = `${S * zoom}px`;
    this.values = new Float32Array(S * S);
    this.draw();
    this.onChange();
  }

  clear(): void {
    this.values.fill(0);
    this.draw();
    this.onChange();
  }

  /** Marked pixels. */
  count(): number {
    let n = 0;
    for (const v of this.values) n += v > 0.5 ? 1 : 0;
    return n;
  }

  /** Mark the box [y0, y1) × [x0, x1) in pixels. */
  box(y0: number, x0: number, y1: number, x1: number): void {
    const S = this.size;
    const [ya, yb] = [Math.max(0, Math.min(y0, y1)), Math.min(S, Math.max(y0, y1))];
    const [xa, xb] = [Math.max(0, Math.min(x0, x1)), Math.min(S, Math.max(x0, x1))];
    for (let y = Math.floor(ya); y < Math.ceil(yb); y++) for (let x = Math.floor(xa); x < Math.ceil(xb); x++) this.values[y * S + x] = 1;
  }

  private disc(cy: number, cx: number): void {
    const S = this.size;
    const r = this.brush() / 2;
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(S, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(S, Math.ceil(cx + r)); x++) {
        if ((y + 0.5 - cy) ** 2 + (x + 0.5 - cx) ** 2 <= r * r + 0.25) this.values[y * S + x] = 1;
      }
    }
  }

  /** The pointer in image pixels. */
  private at(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientY - r.top) / r.height) * this.size, ((e.clientX - r.left) / r.width) * this.size];
  }

  private down(e: PointerEvent): void {
    this.canvas.setPointerCapture(e.pointerId);
    this.start = this.last = this.at(e);
    if (this.tool() === "brush") {
      this.disc(...this.start);
      this.draw();
    }
  }

  private move(e: PointerEvent): void {
    if (!this.start || !this.last) return;
    const p = this.at(e);
    if (this.tool() === "brush") {
      // discs along the segment, so a fast stroke leaves no gaps
      const steps = Math.max(1, Math.ceil(Math.hypot(p[0] - this.last[0], p[1] - this.last[1]) / Math.max(0.5, this.brush() / 4)));
      for (let i = 1; i <= steps; i++) this.disc(this.last[0] + ((p[0] - this.last[0]) * i) / steps, this.last[1] + ((p[1] - this.last[1]) * i) / steps);
      this.draw();
    } else this.draw([this.start, p]);
    this.last = p;
  }

  private up(e: PointerEvent): void {
    if (!this.start) return;
    if (this.tool() === "box") {
      const p = this.at(e);
      this.box(this.start[0], this.start[1], p[0], p[1]);
    }
    this.start = this.last = null;
    this.draw();
    this.onChange();
  }

  private draw(rubberBand?: [[number, number], [number, number]]): void {
    const S = this.size;
    const img = this.ctx.createImageData(S, S);
    for (let i = 0; i < S * S; i++) {
      if (this.values[i] > 0.5) {
        img.data[4 * i] = 255;
        img.data[4 * i + 3] = 120;
      }
    }
    this.ctx.putImageData(img, 0, 0);
    this.canvas.dataset.marked = String(this.count());
    if (rubberBand) {
      const [[y0, x0], [y1, x1]] = rubberBand;
      this.ctx.fillStyle = "rgba(255, 0, 0, 0.3)";
      this.ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    }
  }
}
