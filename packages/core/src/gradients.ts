/**
 * Gradients for the tfjs kernels the models use, registered in tfjs'
 * gradient registry so that `tf.grads` / `tf.variableGrads` work with
 * `@tensorflow/tfjs-core` alone.
 *
 * Why this exists: tfjs-core's Node entry (`tf-core.node.js`) ships without
 * any gradient registration (the union package `@tensorflow/tfjs` adds them,
 * and tfjs-core's ESM `dist/register_all_gradients.js` cannot be imported
 * by Node: its imports have no file extensions). Two gradients also differ
 * on purpose from tfjs' own, because the wasm backend lacks the kernels
 * tfjs uses for them: the filter gradient of `Conv2D` is one convolution (the
 * batch as channels, dy as the filter) instead of `Conv2DBackpropFilter`, and the table gradient of
 * `GatherV2` is a one-hot matrix product where `UnsortedSegmentSum` is
 * missing.
 *
 * Each gradient is written from the math with public ops and checked
 * against central finite differences in `gradients.test.ts`. A gradient
 * that is already registered (for example by `@tensorflow/tfjs`) is left alone.
 */
import * as tf from "@tensorflow/tfjs-core";

// biome-ignore lint/suspicious/noExplicitAny: each kernel has its own attribute record
type GradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: Record<string, any>) => Record<string, () => tf.Tensor>;
interface Grad {
  kernelName: string;
  inputsToSave?: string[];
  outputsToSave?: boolean[];
  /** For kernels whose inputs are a list (Concat, Pack, AddN): save every input. */
  saveAllInputs?: boolean;
  gradFunc: GradFunc;
}

/** Sum a broadcast gradient back to the shape of the input it came from. */
function unbroadcast(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape);
  let r = g;
  if (axes.length) r = tf.sum(r, axes);
  return tf.reshape(r, shape);
}

const one = (dy: tf.Tensor | tf.Tensor[]) => dy as tf.Tensor;
const hasKernel = (name: string) => tf.getKernel(name, tf.getBackend()) !== undefined;
const f32 = (t: tf.Tensor) => (t.dtype === "float32" ? t : tf.cast(t, "float32"));
const zerosF32 = (t: tf.Tensor) => tf.zeros(t.shape, "float32");

function binary(kernelName: string, da: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor, db: (dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => tf.Tensor): Grad {
  return {
    kernelName,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(da(one(dy), a, b), a.shape),
      b: () => unbroadcast(db(one(dy), a, b), b.shape),
    }),
  };
}

function unaryFromInput(kernelName: string, dx: (dy: tf.Tensor, x: tf.Tensor) => tf.Tensor): Grad {
  return { kernelName, inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => dx(one(dy), x) }) };
}

function unaryFromOutput(kernelName: string, dx: (dy: tf.Tensor, y: tf.Tensor) => tf.Tensor, input = "x"): Grad {
  return { kernelName, outputsToSave: [true], gradFunc: (dy, [y]) => ({ [input]: () => dx(one(dy), y) }) };
}

/** Gradient of a reduction: broadcast dy back over the reduced axes. */
function expandReduced(dy: tf.Tensor, xShape: number[], axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, xShape);
  const kept = xShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return tf.mul(tf.reshape(dy, kept), tf.ones(xShape));
}

/**
 * dL/dW of an NHWC convolution as one convolution (no Conv2DBackpropFilter
 * kernel needed): dW[i, j, ci, co] = Σ_{b,r,c} xp[b, s·r+i, s·c+j, ci] · dy[b, r, c, co]
 * is the convolution of the padded input with its batch as channels,
 * (Ci, Hp, Wp, B), by dy as the filter, (Ho, Wo, B, Co), dilated by the
 * stride: (Ci, KH, KW, Co) once its first KH×KW outputs are kept. One
 * convolution instead of one product per filter tap (3–10× faster on wasm,
 * see @nextscale/backends' "Training speed").
 */
function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], info: tf.backend_util.Conv2DInfo): tf.Tensor {
  const [KH, KW, Ci, Co] = filterShape;
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    const xp = tf.pad(x, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
    const xc = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // (Ci, Hp, Wp, B)
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // (Ho, Wo, B, Co)
    const dil: [number, number] = [info.strideHeight, info.strideWidth];
    let g = tf.conv2d(xc, f, 1, "valid", "NHWC", dil); // (Ci, ≥KH, ≥KW, Co)
    if (g.shape[1] !== KH || g.shape[2] !== KW) g = tf.slice(g, [0, 0, 0, 0], [Ci, KH, KW, Co]);
    return tf.transpose(g, [1, 2, 0, 3]); // (KH, KW, Ci, Co)
  });
}

/**
 * Backends whose own Conv2DBackpropFilter kernel beats conv2dFilterGrad's
 * convolution: the native devices run it as one im2col product (4× faster on
 * the CPU device at 28×28×32, batch 32), while wasm has none and
 * tfjs-backend-cpu's is a slower loop than its convolution.
 */
const DIRECT_FILTER_GRAD = new Set(["native", "cuda"]);

const GRADS: Grad[] = [
  binary("Add", (dy) => dy, (dy) => dy),
  binary("Sub", (dy) => dy, (dy) => tf.neg(dy)),
  binary("Multiply", (dy, _a, b) => tf.mul(dy, b), (dy, a) => tf.mul(dy, a)),
  binary(
    "RealDiv",
    (dy, _a, b) => tf.div(dy, b),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b))),
  ),
  binary(
    "SquaredDifference",
    (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
    (dy, a, b) => tf.mul(dy, tf.mul(-2, tf.sub(a, b))),
  ),
  binary(
    "Maximum",
    (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.less(a, b))),
  ),
  binary(
    "Minimum",
    (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b))),
  ),
  binary(
    "Pow",
    (dy, a, b) => tf.mul(dy, tf.mul(b, tf.pow(a, tf.sub(b, 1)))),
    (dy, a, b) => {
      const pos = tf.greater(a, 0);
      const logA = tf.where(pos, tf.log(tf.where(pos, a, tf.onesLike(a))), tf.zerosLike(a));
      return tf.mul(dy, tf.mul(tf.pow(a, b), logA));
    },
  ),
  unaryFromInput("Neg", (dy) => tf.neg(dy)),
  unaryFromInput("Square", (dy, x) => tf.mul(dy, tf.mul(2, x))),
  unaryFromInput("Sqrt", (dy, x) => tf.div(dy, tf.mul(2, tf.sqrt(x)))),
  unaryFromInput("Rsqrt", (dy, x) => tf.mul(dy, tf.mul(-0.5, tf.pow(x, -1.5)))),
  unaryFromInput("Log", (dy, x) => tf.div(dy, x)),
  unaryFromInput("Abs", (dy, x) => tf.mul(dy, tf.sign(x))),
  unaryFromInput("Erf", (dy, x) => tf.mul(dy, tf.mul(2 / Math.sqrt(Math.PI), tf.exp(tf.neg(tf.square(x)))))),
  unaryFromInput("Relu", (dy, x) => tf.mul(dy, f32(tf.greater(x, 0)))),
  unaryFromOutput("Exp", (dy, y) => tf.mul(dy, y)),
  unaryFromOutput("Sigmoid", (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryFromOutput("Tanh", (dy, y) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  unaryFromInput("Identity", (dy) => tf.clone(dy)),
  unaryFromInput("Cast", (dy) => tf.clone(dy)),
  {
    kernelName: "LeakyRelu",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], a) => ({ x: () => tf.mul(one(dy), tf.where(tf.greater(x, 0), tf.onesLike(x), tf.fill(x.shape, a.alpha as number))) }),
  },
  {
    kernelName: "ClipByValue",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], a) => ({
      x: () => tf.mul(one(dy), f32(tf.logicalAnd(tf.greaterEqual(x, a.clipValueMin), tf.lessEqual(x, a.clipValueMax)))),
    }),
  },
  {
    kernelName: "Softmax",
    outputsToSave: [true],
    gradFunc: (dy, [y], a) => ({
      logits: () => tf.mul(y, tf.sub(one(dy), tf.sum(tf.mul(one(dy), y), a.dim, true))),
    }),
  },
  {
    kernelName: "Select",
    inputsToSave: ["condition"],
    gradFunc: (dy, [c]) => ({
      condition: () => zerosF32(c),
      t: () => tf.mul(one(dy), f32(c)),
      e: () => tf.mul(one(dy), f32(tf.logicalNot(c))),
    }),
  },
  {
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b], { transposeA: tA, transposeB: tB }) => {
      const g = one(dy);
      // C = op(A)·op(B); dA = dC·op(B)ᵀ (transposed back if A was), dB likewise; batch broadcasting summed out.
      const da = () => {
        const d = tA ? tf.matMul(b, g, tB, true) : tf.matMul(g, b, false, !tB);
        return unbroadcast(d, a.shape);
      };
      const db = () => {
        const d = tB ? tf.matMul(g, a, true, tA) : tf.matMul(a, g, !tA, false);
        return unbroadcast(d, b.shape);
      };
      return { a: da, b: db };
    },
  },
  { kernelName: "Reshape", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(one(dy), x.shape) }) },
  { kernelName: "ExpandDims", inputsToSave: ["input"], gradFunc: (dy, [x]) => ({ input: () => tf.reshape(one(dy), x.shape) }) },
  {
    kernelName: "Transpose",
    gradFunc: (dy, _s, { perm }) => {
      const inv = new Array<number>(perm.length);
      perm.forEach((p: number, i: number) => {
        inv[p] = i;
      });
      return { x: () => tf.transpose(one(dy), inv) };
    },
  },
  {
    kernelName: "Tile",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], { reps }) => ({
      // out[k·s + i] = x[i]: view dy as (r0, s0, r1, s1, …) and sum the r axes
      x: () => {
        const split = x.shape.flatMap((s, i) => [reps[i], s]);
        return tf.sum(tf.reshape(one(dy), split), x.shape.map((_, i) => 2 * i));
      },
    }),
  },
  {
    kernelName: "Slice",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], { begin, size }) => ({
      x: () => {
        const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
        return tf.pad(
          one(dy),
          x.shape.map((d, i) => [b[i], d - b[i] - s[i]] as [number, number]),
        );
      },
    }),
  },
  {
    kernelName: "PadV2",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], { paddings }) => ({
      x: () =>
        tf.slice(
          one(dy),
          paddings.map((p: [number, number]) => p[0]),
          x.shape,
        ),
    }),
  },
  {
    kernelName: "Concat",
    saveAllInputs: true,
    gradFunc: (dy, saved, { axis }) => {
      // each input's part of dy as its own slice: a split per input would split all of dy once per input
      const ax = tf.util.parseAxisParam(axis, saved[0].shape)[0];
      let offset = 0;
      return Object.fromEntries(
        saved.map((t, i) => {
          const begin = t.shape.map((_, d) => (d === ax ? offset : 0));
          offset += t.shape[ax];
          return [String(i), () => tf.slice(one(dy), begin, t.shape)];
        }),
      );
    },
  },
  {
    kernelName: "Pack",
    saveAllInputs: true,
    gradFunc: (dy, saved, { axis }) =>
      Object.fromEntries(
        saved.map((t, i) => {
          const g = one(dy);
          const ax = axis < 0 ? axis + g.rank : axis;
          const begin = g.shape.map((_, d) => (d === ax ? i : 0));
          const size = g.shape.map((n, d) => (d === ax ? 1 : n));
          return [String(i), () => tf.reshape(tf.slice(g, begin, size), t.shape)];
        }),
      ),
  },
  {
    kernelName: "SplitV",
    gradFunc: (dy, _s, { axis }) => ({ x: () => tf.concat(dy as tf.Tensor[], axis) }),
  },
  {
    kernelName: "Unpack",
    gradFunc: (dy, _s, { axis }) => ({ value: () => tf.stack(dy as tf.Tensor[], axis) }),
  },
  {
    kernelName: "AddN",
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [String(i), () => tf.clone(one(dy))])),
  },
  {
    kernelName: "Sum",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], { axis }) => ({ x: () => expandReduced(one(dy), x.shape, axis) }),
  },
  {
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], { axis }) => {
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      return { x: () => tf.div(expandReduced(one(dy), x.shape, axes), n) };
    },
  },
  {
    kernelName: "Max",
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], { reductionIndices }) => {
      const axes = tf.util.parseAxisParam(reductionIndices, x.shape);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      return { x: () => tf.mul(expandReduced(one(dy), x.shape, axes), f32(tf.equal(x, tf.reshape(y, kept)))) };
    },
  },
  ...["Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr"].map(
    (kernelName): Grad => ({ kernelName, inputsToSave: ["a", "b"], gradFunc: (_dy, [a, b]) => ({ a: () => zerosF32(a), b: () => zerosF32(b) }) }),
  ),
  ...["LogicalNot", "Sign", "Floor", "Ceil", "Round"].map(
    (kernelName): Grad => ({ kernelName, inputsToSave: ["x"], gradFunc: (_dy, [x]) => ({ x: () => zerosF32(x) }) }),
  ),
  { kernelName: "ArgMax", inputsToSave: ["x"], gradFunc: (_dy, [x]) => ({ x: () => zerosF32(x) }) },
  { kernelName: "ArgMin", inputsToSave: ["x"], gradFunc: (_dy, [x]) => ({ x: () => zerosF32(x) }) },
  { kernelName: "OneHot", inputsToSave: ["indices"], gradFunc: (_dy, [i]) => ({ indices: () => zerosF32(i) }) },
  { kernelName: "ZerosLike", inputsToSave: ["x"], gradFunc: (_dy, [x]) => ({ x: () => zerosF32(x) }) },
  { kernelName: "OnesLike", inputsToSave: ["x"], gradFunc: (_dy, [x]) => ({ x: () => zerosF32(x) }) },
  {
    kernelName: "GatherV2",
    inputsToSave: ["x", "indices"],
    gradFunc: (dy, [x, indices], { axis, batchDims }) => {
      if (batchDims) throw new Error("gradient of gather with batchDims is not supported");
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      return {
        x: () => {
          // x (outer, V, inner), dy (outer, I…, inner): bring the index axes of dy first,
          // sum rows that share an index, then put the V axis back in place
          const n = indices.size;
          const V = x.shape[ax];
          const r = indices.rank;
          const outer = x.shape.slice(0, ax);
          const inner = x.shape.slice(ax + 1);
          const idxFirst = [...Array.from({ length: r }, (_, i) => ax + i), ...outer.map((_, i) => i), ...inner.map((_, i) => ax + r + i)];
          const d2 = tf.reshape(tf.transpose(one(dy), idxFirst), [n, -1]);
          const flat = tf.reshape(tf.cast(indices, "int32"), [n]) as tf.Tensor1D;
          const gx = hasKernel("UnsortedSegmentSum")
            ? tf.unsortedSegmentSum(d2, flat, V)
            : tf.matMul(tf.cast(tf.oneHot(flat, V), "float32"), d2, true, false); // (V, N)·(N, rest); wasm ignores oneHot's dtype argument
          const back = [...outer.map((_, i) => i + 1), 0, ...inner.map((_, i) => ax + 1 + i)];
          return tf.transpose(tf.reshape(gx, [V, ...outer, ...inner]), back);
        },
        indices: () => zerosF32(indices),
      };
    },
  },
  {
    kernelName: "Conv2D",
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, [x, filter], attrs) => {
      const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
      if (dataFormat !== "NHWC") throw new Error(`gradient of conv2d: only NHWC is supported (got ${dataFormat})`);
      const dil = typeof dilations === "number" ? [dilations, dilations] : dilations;
      if (dil.some((d: number) => d !== 1)) throw new Error("gradient of conv2d: dilations > 1 are not supported");
      const g = one(dy) as tf.Tensor4D;
      const x4 = x as tf.Tensor4D;
      const f4 = filter as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(g, f4, x4.shape, strides, pad, dimRoundingMode),
        filter: () => {
          const info = tf.backend_util.computeConv2DInfo(x4.shape, f4.shape, strides, 1, pad, dimRoundingMode, false, "channelsLast");
          if (!DIRECT_FILTER_GRAD.has(tf.getBackend()) || !hasKernel("Conv2DBackpropFilter")) return conv2dFilterGrad(x4, g, f4.shape, info);
          const kAttrs = { strides, pad, dataFormat: "NHWC", dimRoundingMode, filterShape: f4.shape };
          return tf.engine().runKernel("Conv2DBackpropFilter", { x: x4, dy: g }, kAttrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        },
      };
    },
  },
];

let registered = false;
/**
 * Register the gradients above (once; kernels that already have a gradient
 * keep it). Called by code that differentiates (training paths); cheap to
 * call again.
 */
export function registerGradients(): void {
  if (registered) return;
  registered = true;
  for (const g of GRADS) {
    if (tf.getGradient(g.kernelName)) continue;
    const config: tf.GradConfig = {
      kernelName: g.kernelName,
      outputsToSave: g.outputsToSave,
      gradFunc: g.gradFunc as unknown as tf.GradConfig["gradFunc"],
    };
    if (g.inputsToSave) config.inputsToSave = g.inputsToSave;
    if (g.saveAllInputs) config.saveAllInputs = true;
    tf.registerGradient(config);
  }
}

/** Kernel names this module provides gradients for. */
export const GRADIENT_KERNELS: readonly string[] = GRADS.map((g) => g.kernelName);

/**
 * `x.detach()`: the same values, invisible to autograd. A new handle on the
 * same data (no copy, no kernel), so the gradient tape never records it and
 * nothing upstream of it is differentiated or kept for the backward pass.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const engine = tf.engine();
  const backend = engine.state.tensorInfo.get(x.dataId)?.backend ?? tf.backend();
  const t = engine.makeTensorFromDataId(x.dataId, x.shape, x.dtype, backend) as T;
  backend.incRef(x.dataId); // the new handle owns a reference, so either may be disposed first
  return t;
}
