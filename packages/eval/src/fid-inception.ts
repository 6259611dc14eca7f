/**
 * FID-Inception: the Inception-v3 graph of TensorFlow's 2015-12-05 release
 * that every FID number is computed with, as pytorch-fid rebuilds it
 * (mseitzer/pytorch-fid `src/pytorch_fid/inception.py`, `InceptionV3` with
 * `use_fid_inception=True`, on torchvision's `Inception3` blocks). Parameter
 * names are the state-dict names of `pt_inception-2015-12-05-6726825d.pth`,
 * so that file loads by name.
 *
 * The FID blocks differ from torchvision's Inception-v3 where the TF graph
 * does:
 * - `FIDInceptionA`, `FIDInceptionC`, `FIDInceptionE_1`: the pool branch
 *   averages 3×3 windows over the valid pixels only (TF's average pool,
 *   `count_include_pad=False`);
 * - `FIDInceptionE_2` (`Mixed_7c`): the pool branch is a 3×3 *max* pool;
 * - BatchNorm eps 1e-3, 1008 classes (the TF graph's softmax size).
 *
 * Notation: B batch, activations NHWC (B, H, W, C); spatial sizes for the
 * 299×299 input are noted as (H×W×C).
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  Conv2d,
  Linear,
  Module,
  OFFICIAL_MODELS,
  type Parameter,
  resize2d,
  StateDictError,
  type StateDictSource,
  type TensorStore,
} from "@nextscale/core";

/** The network's fixed shape facts (one configuration: the TF graph is fixed). */
export interface FidInceptionConfig {
  /** Input side after resizing: pytorch-fid resizes to 299 (bilinear, align_corners=False). */
  readonly inputSize: number;
  /** Logits of the TF graph's softmax layer: 1008 (1000 ImageNet classes + 8 unused). */
  readonly numClasses: number;
  /** BatchNorm epsilon of the TF graph. */
  readonly bnEps: number;
  /** pool3 feature length. */
  readonly poolDim: number;
  /**
   * sFID channels: OpenAI's evaluator (guided-diffusion
   * `evaluations/evaluator.py`) takes `mixed_6/conv:0`, the 1×1 branch of the
   * TF graph's `mixed_6` block, which is pytorch-fid's `Mixed_6d.branch1x1`
   * (TF counts `mixed` = Mixed_5b … `mixed_6` = Mixed_6d), and keeps its
   * first 7 channels: 17·17·7 = 2023 values per image.
   */
  readonly spatialChannels: number;
}

export const FID_INCEPTION: FidInceptionConfig = Object.freeze({
  inputSize: 299,
  numClasses: 1008,
  bnEps: 1e-3,
  poolDim: 2048,
  spatialChannels: 7,
});

/** How images become network input: pytorch-fid's transform (default) or the TF graph's. */
export type InceptionPreprocessing = "pytorch-fid" | "tf";

/**
 * TF1 `ResizeBilinear(align_corners=False)` without half-pixel centres as an
 * (out × in) float32 matrix: source position o·in/out, weights to its floor
 * and the next pixel (clamped).
 */
export function legacyBilinearMatrix(inSize: number, outSize: number): Float32Array {
  const M = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = o * scale;
    const f = Math.min(Math.floor(src), inSize - 1);
    const t = src - f;
    M[o * inSize + f] += 1 - t;
    M[o * inSize + Math.min(f + 1, inSize - 1)] += t;
  }
  return M;
}

/**
 * The checkpoint pytorch-fid downloads (core's registry: `nextscale download
 * inception` or `downloadModel("inception")` fetch it when asked; loading
 * never downloads).
 */
export const FID_WEIGHTS_FILE = OFFICIAL_MODELS.inception.file;
export const FID_WEIGHTS_URL = OFFICIAL_MODELS.inception.url;

/** `nn.BatchNorm2d` in eval mode (running statistics). */
class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  constructor(channels: number) {
    super();
    this.weight = this.param("weight", [channels]);
    this.bias = this.param("bias", [channels]);
    this.runningMean = this.buffer("running_mean", [channels]);
    this.runningVar = this.buffer("running_var", [channels]);
  }
}

/** torchvision `BasicConv2d`: conv (no bias) → BatchNorm(eps 1e-3) → ReLU. */
class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(
    inC: number,
    outC: number,
    kernel: number | [number, number],
    readonly opts: { stride?: number; padding?: number | [number, number]; eps: number },
  ) {
    super();
    this.conv = this.child("conv", new Conv2d(inC, outC, kernel, opts.stride ?? 1, opts.padding ?? 0, false));
    this.bn = this.child("bn", new BatchNorm2d(outC));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      // BN folded into the convolution: W·s and b − mean·s with s = γ/√(var + eps)
      const s = tf.div(this.bn.weight.value, tf.sqrt(tf.add(this.bn.runningVar.value, this.opts.eps)));
      const filter = tf.mul(this.conv.weight.value, s) as tf.Tensor4D; // HWIO · (O)
      const bias = tf.sub(this.bn.bias.value, tf.mul(this.bn.runningMean.value, s));
      const p = this.opts.padding ?? 0;
      const [ph, pw] = typeof p === "number" ? [p, p] : p;
      const pad: "valid" | [[number, number], [number, number], [number, number], [number, number]] =
        ph === 0 && pw === 0 ? "valid" : [[0, 0], [ph, ph], [pw, pw], [0, 0]];
      return tf.fused.conv2d({ x, filter, strides: this.opts.stride ?? 1, pad, bias, activation: "relu" });
    });
  }
}

const pad1: [number, number] = [1, 1];

/** 3×3 average pool, stride 1, padding 1, averaging only the valid pixels (TF semantics). */
function avgPool3x3ValidOnly(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, H, W] = x.shape;
    const sum = tf.mul(tf.avgPool(tf.pad(x, [[0, 0], pad1, pad1, [0, 0]]), 3, 1, "valid"), 9);
    // number of valid pixels in each window: 9 inside, 6 on edges, 4 in corners
    const count = new Float32Array(H * W);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) count[i * W + j] = (Math.min(i + 1, H - 1) - Math.max(i - 1, 0) + 1) * (Math.min(j + 1, W - 1) - Math.max(j - 1, 0) + 1);
    }
    return tf.div(sum, tf.tensor4d(count, [1, H, W, 1]));
  });
}

const concat = (xs: tf.Tensor4D[]) => tf.concat(xs, 3) as tf.Tensor4D;

/** `FIDInceptionA` (Mixed_5b/c/d): 1×1, 5×5, double 3×3 and pool branches (35×35). */
class FIDInceptionA extends Module {
  private readonly b: Record<string, BasicConv2d> = {};
  constructor(inC: number, poolFeatures: number, eps: number) {
    super();
    const add = (name: string, m: BasicConv2d) => {
      this.b[name] = this.child(name, m);
    };
    add("branch1x1", new BasicConv2d(inC, 64, 1, { eps }));
    add("branch5x5_1", new BasicConv2d(inC, 48, 1, { eps }));
    add("branch5x5_2", new BasicConv2d(48, 64, 5, { padding: 2, eps }));
    add("branch3x3dbl_1", new BasicConv2d(inC, 64, 1, { eps }));
    add("branch3x3dbl_2", new BasicConv2d(64, 96, 3, { padding: 1, eps }));
    add("branch3x3dbl_3", new BasicConv2d(96, 96, 3, { padding: 1, eps }));
    add("branch_pool", new BasicConv2d(inC, poolFeatures, 1, { eps }));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const b = this.b;
    return tf.tidy(() =>
      concat([
        b.branch1x1.forward(x),
        b.branch5x5_2.forward(b.branch5x5_1.forward(x)),
        b.branch3x3dbl_3.forward(b.branch3x3dbl_2.forward(b.branch3x3dbl_1.forward(x))),
        b.branch_pool.forward(avgPool3x3ValidOnly(x)),
      ]),
    );
  }
}

/** torchvision `InceptionB` (Mixed_6a): grid reduction 35×35 → 17×17. */
class InceptionB extends Module {
  private readonly b: Record<string, BasicConv2d> = {};
  constructor(inC: number, eps: number) {
    super();
    const add = (name: string, m: BasicConv2d) => {
      this.b[name] = this.child(name, m);
    };
    add("branch3x3", new BasicConv2d(inC, 384, 3, { stride: 2, eps }));
    add("branch3x3dbl_1", new BasicConv2d(inC, 64, 1, { eps }));
    add("branch3x3dbl_2", new BasicConv2d(64, 96, 3, { padding: 1, eps }));
    add("branch3x3dbl_3", new BasicConv2d(96, 96, 3, { stride: 2, eps }));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const b = this.b;
    return tf.tidy(() =>
      concat([
        b.branch3x3.forward(x),
        b.branch3x3dbl_3.forward(b.branch3x3dbl_2.forward(b.branch3x3dbl_1.forward(x))),
        tf.maxPool(x, 3, 2, "valid"),
      ]),
    );
  }
}

/** `FIDInceptionC` (Mixed_6b…e): factorised 7×7 branches (17×17). */
class FIDInceptionC extends Module {
  private readonly b: Record<string, BasicConv2d> = {};
  constructor(inC: number, c7: number, eps: number) {
    super();
    const add = (name: string, m: BasicConv2d) => {
      this.b[name] = this.child(name, m);
    };
    const k17: [number, number] = [1, 7];
    const k71: [number, number] = [7, 1];
    const p17: [number, number] = [0, 3];
    const p71: [number, number] = [3, 0];
    add("branch1x1", new BasicConv2d(inC, 192, 1, { eps }));
    add("branch7x7_1", new BasicConv2d(inC, c7, 1, { eps }));
    add("branch7x7_2", new BasicConv2d(c7, c7, k17, { padding: p17, eps }));
    add("branch7x7_3", new BasicConv2d(c7, 192, k71, { padding: p71, eps }));
    add("branch7x7dbl_1", new BasicConv2d(inC, c7, 1, { eps }));
    add("branch7x7dbl_2", new BasicConv2d(c7, c7, k71, { padding: p71, eps }));
    add("branch7x7dbl_3", new BasicConv2d(c7, c7, k17, { padding: p17, eps }));
    add("branch7x7dbl_4", new BasicConv2d(c7, c7, k71, { padding: p71, eps }));
    add("branch7x7dbl_5", new BasicConv2d(c7, 192, k17, { padding: p17, eps }));
    add("branch_pool", new BasicConv2d(inC, 192, 1, { eps }));
  }
  /** The 1×1 branch alone: `Mixed_6d.branch1x1` is TF's `mixed_6/conv` (sFID). */
  branch1x1(x: tf.Tensor4D): tf.Tensor4D {
    return this.b.branch1x1.forward(x);
  }
  forward(x: tf.Tensor4D, branch1x1?: tf.Tensor4D): tf.Tensor4D {
    const b = this.b;
    return tf.tidy(() => {
      let d = b.branch7x7dbl_1.forward(x);
      for (const k of ["branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"]) d = b[k].forward(d);
      return concat([
        branch1x1 ?? b.branch1x1.forward(x),
        b.branch7x7_3.forward(b.branch7x7_2.forward(b.branch7x7_1.forward(x))),
        d,
        b.branch_pool.forward(avgPool3x3ValidOnly(x)),
      ]);
    });
  }
}

/** torchvision `InceptionD` (Mixed_7a): grid reduction 17×17 → 8×8. */
class InceptionD extends Module {
  private readonly b: Record<string, BasicConv2d> = {};
  constructor(inC: number, eps: number) {
    super();
    const add = (name: string, m: BasicConv2d) => {
      this.b[name] = this.child(name, m);
    };
    add("branch3x3_1", new BasicConv2d(inC, 192, 1, { eps }));
    add("branch3x3_2", new BasicConv2d(192, 320, 3, { stride: 2, eps }));
    add("branch7x7x3_1", new BasicConv2d(inC, 192, 1, { eps }));
    add("branch7x7x3_2", new BasicConv2d(192, 192, [1, 7], { padding: [0, 3], eps }));
    add("branch7x7x3_3", new BasicConv2d(192, 192, [7, 1], { padding: [3, 0], eps }));
    add("branch7x7x3_4", new BasicConv2d(192, 192, 3, { stride: 2, eps }));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const b = this.b;
    return tf.tidy(() => {
      let t = b.branch7x7x3_1.forward(x);
      for (const k of ["branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"]) t = b[k].forward(t);
      return concat([b.branch3x3_2.forward(b.branch3x3_1.forward(x)), t, tf.maxPool(x, 3, 2, "valid")]);
    });
  }
}

/** `FIDInceptionE_1` (Mixed_7b, average pool) and `FIDInceptionE_2` (Mixed_7c, max pool), 8×8. */
class FIDInceptionE extends Module {
  private readonly b: Record<string, BasicConv2d> = {};
  constructor(
    inC: number,
    readonly pool: "avg" | "max",
    eps: number,
  ) {
    super();
    const add = (name: string, m: BasicConv2d) => {
      this.b[name] = this.child(name, m);
    };
    add("branch1x1", new BasicConv2d(inC, 320, 1, { eps }));
    add("branch3x3_1", new BasicConv2d(inC, 384, 1, { eps }));
    add("branch3x3_2a", new BasicConv2d(384, 384, [1, 3], { padding: [0, 1], eps }));
    add("branch3x3_2b", new BasicConv2d(384, 384, [3, 1], { padding: [1, 0], eps }));
    add("branch3x3dbl_1", new BasicConv2d(inC, 448, 1, { eps }));
    add("branch3x3dbl_2", new BasicConv2d(448, 384, 3, { padding: 1, eps }));
    add("branch3x3dbl_3a", new BasicConv2d(384, 384, [1, 3], { padding: [0, 1], eps }));
    add("branch3x3dbl_3b", new BasicConv2d(384, 384, [3, 1], { padding: [1, 0], eps }));
    add("branch_pool", new BasicConv2d(inC, 192, 1, { eps }));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const b = this.b;
    return tf.tidy(() => {
      const t = b.branch3x3_1.forward(x);
      const d = b.branch3x3dbl_2.forward(b.branch3x3dbl_1.forward(x));
      // E_2: TF's graph max-pools here (pytorch-fid keeps that quirk); padding never wins a max
      const pooled = this.pool === "avg" ? avgPool3x3ValidOnly(x) : tf.maxPool(x, 3, 1, "same");
      return concat([
        b.branch1x1.forward(x),
        b.branch3x3_2a.forward(t),
        b.branch3x3_2b.forward(t),
        b.branch3x3dbl_3a.forward(d),
        b.branch3x3dbl_3b.forward(d),
        b.branch_pool.forward(pooled),
      ]);
    });
  }
}

/** What a forward pass returns (each only when asked for). */
export interface FidInceptionOutput {
  /** (B, 2048) final average pool features: the FID features. */
  pool3: tf.Tensor2D;
  /** (B, 1008) `fc` logits on the device, float32 (`hostLogits` computes them in float64 from pool3). */
  logits?: tf.Tensor2D;
  /** (B, 17·17·7) `Mixed_6d.branch1x1` output, first 7 channels, flattened in (H, W, C) order: sFID features. */
  spatial?: tf.Tensor2D;
}

/** pytorch-fid's `InceptionV3(use_fid_inception=True)` with the `fc` layer kept for the Inception Score. */
export class FidInceptionV3 extends Module {
  readonly Conv2d_1a_3x3: BasicConv2d;
  readonly Conv2d_2a_3x3: BasicConv2d;
  readonly Conv2d_2b_3x3: BasicConv2d;
  readonly Conv2d_3b_1x1: BasicConv2d;
  readonly Conv2d_4a_3x3: BasicConv2d;
  readonly Mixed_5b: FIDInceptionA;
  readonly Mixed_5c: FIDInceptionA;
  readonly Mixed_5d: FIDInceptionA;
  readonly Mixed_6a: InceptionB;
  readonly Mixed_6b: FIDInceptionC;
  readonly Mixed_6c: FIDInceptionC;
  readonly Mixed_6d: FIDInceptionC;
  readonly Mixed_6e: FIDInceptionC;
  readonly Mixed_7a: InceptionD;
  readonly Mixed_7b: FIDInceptionE;
  readonly Mixed_7c: FIDInceptionE;
  readonly fc: Linear;

  constructor(readonly config: FidInceptionConfig = FID_INCEPTION) {
    super();
    const eps = config.bnEps;
    this.Conv2d_1a_3x3 = this.child("Conv2d_1a_3x3", new BasicConv2d(3, 32, 3, { stride: 2, eps }));
    this.Conv2d_2a_3x3 = this.child("Conv2d_2a_3x3", new BasicConv2d(32, 32, 3, { eps }));
    this.Conv2d_2b_3x3 = this.child("Conv2d_2b_3x3", new BasicConv2d(32, 64, 3, { padding: 1, eps }));
    this.Conv2d_3b_1x1 = this.child("Conv2d_3b_1x1", new BasicConv2d(64, 80, 1, { eps }));
    this.Conv2d_4a_3x3 = this.child("Conv2d_4a_3x3", new BasicConv2d(80, 192, 3, { eps }));
    this.Mixed_5b = this.child("Mixed_5b", new FIDInceptionA(192, 32, eps));
    this.Mixed_5c = this.child("Mixed_5c", new FIDInceptionA(256, 64, eps));
    this.Mixed_5d = this.child("Mixed_5d", new FIDInceptionA(288, 64, eps));
    this.Mixed_6a = this.child("Mixed_6a", new InceptionB(288, eps));
    this.Mixed_6b = this.child("Mixed_6b", new FIDInceptionC(768, 128, eps));
    this.Mixed_6c = this.child("Mixed_6c", new FIDInceptionC(768, 160, eps));
    this.Mixed_6d = this.child("Mixed_6d", new FIDInceptionC(768, 160, eps));
    this.Mixed_6e = this.child("Mixed_6e", new FIDInceptionC(768, 192, eps));
    this.Mixed_7a = this.child("Mixed_7a", new InceptionD(768, eps));
    this.Mixed_7b = this.child("Mixed_7b", new FIDInceptionE(1280, "avg", eps));
    this.Mixed_7c = this.child("Mixed_7c", new FIDInceptionE(2048, "max", eps));
    this.fc = this.child("fc", new Linear(config.poolDim, config.numClasses));
  }

  private fcHost: { w: Float32Array; b: Float32Array } | null = null;

  override async loadStateDict(...args: Parameters<Module["loadStateDict"]>): ReturnType<Module["loadStateDict"]> {
    this.fcHost = null;
    return super.loadStateDict(...args);
  }

  /**
   * The `fc` logits of pool3 features (B × 2048, row-major) computed on the
   * host in float64: the same numbers on every backend, whatever the
   * accumulation order of its matrix product (the Inception Score's input).
   */
  async hostLogits(pool3: Float32Array): Promise<Float32Array> {
    const { poolDim: d, numClasses: c } = this.config;
    if (pool3.length % d) throw new Error(`hostLogits: ${pool3.length} values are not B × ${d}`);
    if (!this.fcHost) {
      const w = this.fc.weight.toTorch(); // (classes, 2048)
      this.fcHost = { w: (await w.data()) as Float32Array, b: (await this.fc.bias!.value.data()) as Float32Array };
      w.dispose();
    }
    const { w, b } = this.fcHost;
    const B = pool3.length / d;
    const out = new Float32Array(B * c);
    for (let r = 0; r < B; r++) {
      const x = pool3.subarray(r * d, (r + 1) * d);
      for (let k = 0; k < c; k++) {
        let s = b[k];
        const o = k * d;
        for (let j = 0; j < d; j++) s += x[j] * w[o + j];
        out[r * c + k] = s;
      }
    }
    return out;
  }

  /**
   * The input transform. "pytorch-fid" (default): bilinear resize to 299×299
   * with `align_corners=False`, then [0, 1] → [-1, 1] (x·2 − 1). "tf": what
   * the TF graph `classify_image_graph_def.pb` used by OpenAI's evaluator does
   * to its [0, 255] input: `ResizeBilinear` in TF1's legacy mode (source
   * pixel o·in/out, no half-pixel centres), then (x − 128)/128.
   */
  preprocess(images: tf.Tensor4D, mode: InceptionPreprocessing = "pytorch-fid"): tf.Tensor4D {
    const s = this.config.inputSize;
    if (mode === "pytorch-fid") return tf.tidy(() => tf.sub(tf.mul(resize2d(images, s, s, "bilinear"), 2), 1) as tf.Tensor4D);
    return tf.tidy(() => {
      const [B, H, W, C] = images.shape;
      const mh = tf.tensor2d(legacyBilinearMatrix(H, s), [s, H]);
      const mw = tf.tensor2d(legacyBilinearMatrix(W, s), [s, W]);
      // rows then columns, as core's resize2d: (s, H)·(B, H, W·C), then (s, W)·(B·s, W, C)
      const rows = tf.matMul(tf.broadcastTo(mh, [B, s, H]), tf.reshape(images, [B, H, W * C]));
      const cols = tf.matMul(tf.broadcastTo(mw, [B * s, s, W]), tf.reshape(rows, [B * s, W, C]));
      return tf.div(tf.sub(tf.mul(tf.reshape(cols, [B, s, s, C]), 255), 128), 128) as tf.Tensor4D;
    });
  }

  /** Images (B, H, W, 3) in [0, 1], any H × W → features. */
  forward(
    images: tf.Tensor4D,
    want: { logits?: boolean; spatial?: boolean; preprocess?: InceptionPreprocessing } = {},
  ): FidInceptionOutput {
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new Error(`FidInceptionV3: expected images of shape (B, H, W, 3), got [${images.shape}]`);
    }
    if (images.shape[1] < 16 || images.shape[2] < 16) {
      throw new Error(`FidInceptionV3: images of ${images.shape[1]}×${images.shape[2]} are too small (need at least 16×16)`);
    }
    return tf.tidy(() => {
      let x = this.preprocess(images, want.preprocess); // (B, 299, 299, 3)
      x = this.Conv2d_1a_3x3.forward(x); // 149×149×32
      x = this.Conv2d_2a_3x3.forward(x); // 147×147×32
      x = this.Conv2d_2b_3x3.forward(x); // 147×147×64
      x = tf.maxPool(x, 3, 2, "valid"); // 73×73×64
      x = this.Conv2d_3b_1x1.forward(x); // 73×73×80
      x = this.Conv2d_4a_3x3.forward(x); // 71×71×192
      x = tf.maxPool(x, 3, 2, "valid"); // 35×35×192
      x = this.Mixed_5b.forward(x); // 35×35×256
      x = this.Mixed_5c.forward(x); // 35×35×288
      x = this.Mixed_5d.forward(x); // 35×35×288
      x = this.Mixed_6a.forward(x); // 17×17×768
      x = this.Mixed_6b.forward(x);
      x = this.Mixed_6c.forward(x);
      const b1 = this.Mixed_6d.branch1x1(x); // 17×17×192: TF's mixed_6/conv
      const B = images.shape[0];
      const spatial = want.spatial
        ? (tf.reshape(tf.slice(b1, [0, 0, 0, 0], [-1, -1, -1, this.config.spatialChannels]), [B, -1]) as tf.Tensor2D)
        : undefined;
      x = this.Mixed_6d.forward(x, b1);
      x = this.Mixed_6e.forward(x); // 17×17×768
      x = this.Mixed_7a.forward(x); // 8×8×1280
      x = this.Mixed_7b.forward(x); // 8×8×2048
      x = this.Mixed_7c.forward(x); // 8×8×2048
      const pool3 = tf.mean(x, [1, 2]) as tf.Tensor2D; // adaptive average pool to 1×1: (B, 2048)
      const out: FidInceptionOutput = { pool3 };
      if (want.logits) out.logits = this.fc.forward(pool3) as tf.Tensor2D; // (B, 1008)
      if (spatial) out.spatial = spatial;
      return out as unknown as tf.TensorContainer;
    }) as unknown as FidInceptionOutput;
  }
}

/** Keys a real `.pth` may carry that the network does not use (BatchNorm step counters). */
const IGNORED = /\.num_batches_tracked$/;

/**
 * Build the network and load its weights by state-dict name from
 * `pt_inception-2015-12-05-6726825d.pth` (as a `TensorStore` from
 * `openCheckpoint`, or host tensors). Missing, unexpected or mis-shaped keys
 * throw one `StateDictError` listing them.
 */
export async function loadFidInception(
  weights: StateDictSource,
  opts: { onProgress?: (p: { loaded: number; total: number; key: string }) => void } = {},
): Promise<FidInceptionV3> {
  const net = new FidInceptionV3();
  const isMap = weights instanceof Map;
  const keys = isMap ? [...weights.keys()] : (weights as TensorStore).keys();
  const shapes = new Map(
    keys
      .filter((k) => !IGNORED.test(k))
      .map((k) => [k, isMap ? (weights as Map<string, { shape: number[] }>).get(k)!.shape : (weights as TensorStore).info(k).shape] as [string, readonly number[]]),
  );
  const problems = net.checkStateDict(shapes);
  if (problems.missing.length || problems.unexpected.length || problems.mismatched.length) {
    const where = isMap ? "state dict" : `checkpoint ${(weights as TensorStore).name}`;
    throw new StateDictError(problems, `${where} into the FID Inception network (expected pytorch-fid's ${FID_WEIGHTS_FILE})`);
  }
  await net.loadStateDict(weights, { strict: false, onProgress: opts.onProgress });
  return net;
}
