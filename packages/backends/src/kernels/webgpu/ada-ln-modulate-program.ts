/**
 * WGSL for AdaLNModulate: one workgroup per token row. Mean and variance
 * (two passes, as `tf.moments`) by tree reduction in workgroup memory, then
 * LN(x)·(1 + scale) + shift written in the same pass over the row, where the
 * fallback runs about ten kernels and keeps their intermediates.
 * Variables: x (rows, C), scale and shift (B, C); uniform L = rows per image.
 */
/** tfjs-webgpu's flat layout: every output axis on x. */
type DispatchLayout = { x: number[] };

export class AdaLNModulateProgram {
  variableNames = ["x", "scale", "shift"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: DispatchLayout;
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms = "L : i32, eps : f32,";

  constructor(rows: number, cols: number, layout: DispatchLayout) {
    this.outputShape = [rows, cols];
    this.dispatchLayout = layout;
    this.dispatch = [rows, 1, 1];
    this.workgroupSize = [cols >= 1024 ? 256 : 64, 1, 1];
    this.shaderKey = `adaLNModulate_${this.workgroupSize[0]}`;
  }

  getUserCode(): string {
    const wg = this.workgroupSize[0];
    return `
    var<workgroup> partial : array<f32, ${wg}>;
    var<workgroup> rowMean : f32;
    var<workgroup> rowRstd : f32;

    fn reduceSum(tid : i32) {
      for (var half = ${wg / 2}; half > 0; half = half >> 1) {
        if (tid < half) {
          partial[tid] = partial[tid] + partial[tid + half];
        }
        workgroupBarrier();
      }
    }

    fn main(index : i32) {
      let row = i32(workgroupId.x);
      let tid = i32(localId.x);
      let cols = uniforms.outShape[1];
      let b = row / uniforms.L;

      var s = 0.0;
      for (var c = tid; c < cols; c += ${wg}) {
        s += getX(row, c);
      }
      partial[tid] = s;
      workgroupBarrier();
      reduceSum(tid);
      if (tid == 0) {
        rowMean = partial[0] / f32(cols);
      }
      workgroupBarrier();

      let mean = rowMean;
      var v = 0.0;
      for (var c = tid; c < cols; c += ${wg}) {
        let d = getX(row, c) - mean;
        v += d * d;
      }
      partial[tid] = v;
      workgroupBarrier();
      reduceSum(tid);
      if (tid == 0) {
        rowRstd = inverseSqrt(partial[0] / f32(cols) + uniforms.eps);
      }
      workgroupBarrier();

      let rstd = rowRstd;
      for (var c = tid; c < cols; c += ${wg}) {
        let n = (getX(row, c) - mean) * rstd;
        setOutputAtCoords(row, c, n * (1.0 + getScale(b, c)) + getShift(b, c));
      }
    }
    `;
  }
}
