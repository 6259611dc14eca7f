/**
 * The VAR tokenizer: a multi-scale VQ-VAE (paper §3.2; `VQVAE` in
 * FoundationVision/VAR `models/vqvae.py`). Encoder -> `quant_conv` -> the
 * multi-scale residual quantizer -> `post_quant_conv` -> decoder. Parameter
 * names are the official state-dict names, so `vae_ch160v4096z32.pth` loads
 * as it is.
 *
 * Layouts (tfjs tensors): images NHWC (B, H, W, 3) in [-1, 1]; latents f and
 * f̂ NHWC (B, P, P, Cvae); token indices int32 (B, pn²) per scale, row-major
 * over the pn × pn map; teacher-forcing input (B, L - pn_0², Cvae).
 */
import {
  Conv2d,
  DTYPE_SIZE,
  inspectCheckpoint,
  Module,
  numel,
  openCheckpoint,
  type Parameter,
  packWhileLoading,
  registerGradients,
  type SourceInput,
  StateDictError,
  type TensorStore,
} from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { checkPatchNums, downsampleRatio, imageSize, inferVqvaeConfig, type VqvaeConfig, vqvaeConfig } from "./config.js";
import { Decoder } from "./decoder.js";
import { Encoder } from "./encoder.js";
import { VqvaeInputError } from "./errors.js";
import { MultiScaleQuantizer, type QuantizerTrainOptions } from "./multi-scale-quantizer.js";

export interface VqvaeTrainOutput {
  /** Decoder output from the straight-through f̂, not clamped (B, H, W, 3). */
  rec: tf.Tensor4D;
  /** The quantizer's vq_loss (scalar). */
  vqLoss: tf.Scalar;
  /** mse(rec, img) (scalar). */
  recLoss: tf.Scalar;
  /** recLoss + vqLoss: the loss whose gradients the reference bundles hold. */
  loss: tf.Scalar;
  /** With `collect`: each scale's codes, int32 (B·pn²) (see `MultiScaleQuantizer.forwardTrain`). */
  indices?: tf.Tensor1D[];
  /** With `collect`: each scale's input to the nearest-code search, (B·pn², Cvae). */
  inputs?: tf.Tensor2D[];
  /** With `features`: the decoder's input to `conv_out` (`Decoder.features`); rec = conv_out(features). */
  features?: tf.Tensor4D;
  /**
   * With `prefixes: n`: the decoder's output from f̂ after each of the first
   * n scales (B, H, W, 3), not clamped (see `MultiScaleQuantizer.forwardTrain`).
   */
  prefixRecs?: tf.Tensor4D[];
}

export interface VqvaeTrainOptions extends QuantizerTrainOptions {
  /** Also return the decoder's features before `conv_out` (for a GAN's adaptive weight). */
  features?: boolean;
}

export class VQVAE extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantize: MultiScaleQuantizer;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;

  constructor(readonly config: VqvaeConfig) {
    super();
    const { zChannels: C, quantConvKs: ks } = config;
    this.encoder = this.child("encoder", new Encoder(config));
    this.decoder = this.child("decoder", new Decoder(config));
    this.quantize = this.child("quantize", new MultiScaleQuantizer(config));
    this.quant_conv = this.child("quant_conv", new Conv2d(C, C, ks, 1, (ks - 1) / 2));
    this.post_quant_conv = this.child("post_quant_conv", new Conv2d(C, C, ks, 1, (ks - 1) / 2));
  }

  /** Image side for the config's patch_nums (or the given ones). */
  imageSize(patchNums: readonly number[] = this.config.patchNums): number {
    return imageSize(this.config, patchNums);
  }

  /** Throw a clear error unless img is (B, S, S, 3) float32 with S the expected image side. */
  checkImages(img: tf.Tensor, patchNums: readonly number[] = this.config.patchNums): void {
    checkPatchNums(patchNums);
    const S = this.imageSize(patchNums);
    const want = `(B, ${S}, ${S}, 3) NHWC images in [-1, 1] (patch_nums [${patchNums}], downsampling ${downsampleRatio(this.config)})`;
    if (img.rank !== 4) throw new VqvaeInputError(`expected ${want}; got a rank-${img.rank} tensor [${img.shape}]`);
    const [, H, W, Ch] = img.shape;
    if (Ch !== 3) throw new VqvaeInputError(`expected 3 channels (RGB, NHWC) in ${want}; got ${Ch} channels, shape [${img.shape}]`);
    if (H !== S || W !== S) throw new VqvaeInputError(`expected images of ${S}×${S}: ${want}; got ${H}×${W}`);
    if (img.dtype !== "float32") throw new VqvaeInputError(`expected float32 images, got ${img.dtype}`);
  }

  /** f = quant_conv(encoder(img)): (B, H, W, 3) -> (B, P, P, Cvae). */
  encode(img: tf.Tensor4D, patchNums?: readonly number[]): tf.Tensor4D {
    this.checkImages(img, patchNums);
    return tf.tidy(() => this.quant_conv.forward(this.encoder.forward(img)));
  }

  /** `fhat_to_img`: decoder(post_quant_conv(f̂)) clamped to [-1, 1]: (B, P, P, Cvae) -> (B, H, W, 3). */
  decode(fHat: tf.Tensor4D): tf.Tensor4D {
    const C = this.config.zChannels;
    if (fHat.rank !== 4 || fHat.shape[3] !== C) throw new VqvaeInputError(`f̂ must be (B, P, P, ${C}); got [${fHat.shape}]`);
    return tf.tidy(() => tf.clipByValue(this.decoder.forward(this.post_quant_conv.forward(fHat)), -1, 1));
  }

  /** `img_to_idxBl`: token indices per scale, int32 (B, pn_k²). Any patch_nums ending at the latent side. */
  imageToIndices(img: tf.Tensor4D, patchNums: readonly number[] = this.config.patchNums): tf.Tensor2D[] {
    return tf.tidy(() => this.quantize.fToIdxBlOrFHat(this.encode(img, patchNums), false, patchNums) as tf.Tensor2D[]);
  }

  /** f̂ after every scale of the encoding (`f_to_idxBl_or_fhat(to_fhat=True)`), each (B, P, P, Cvae). */
  fHatPerScale(img: tf.Tensor4D, patchNums: readonly number[] = this.config.patchNums): tf.Tensor4D[] {
    return tf.tidy(() => this.quantize.fToIdxBlOrFHat(this.encode(img, patchNums), true, patchNums) as tf.Tensor4D[]);
  }

  /** f̂ from token indices (`embed_to_fhat`): after every scale, or only the final one. */
  indicesToFHat(indices: tf.Tensor[], opts: { allScales?: boolean } = {}): tf.Tensor4D[] {
    this.quantize.checkIndices(indices);
    return tf.tidy(() =>
      this.quantize.embedToFHat(
        indices.map((t) => this.quantize.embed(t)),
        !opts.allScales,
      ),
    );
  }

  /**
   * `idxBl_to_img`: decode token indices (one int32 (B, pn_k²) per scale) to
   * the final image, or with `allScales` to one image per scale, coarse to
   * fine (the preview sequence). Images are (B, H, W, 3) in [-1, 1].
   */
  indicesToImage(indices: tf.Tensor[], opts?: { allScales?: false }): tf.Tensor4D;
  indicesToImage(indices: tf.Tensor[], opts: { allScales: true }): tf.Tensor4D[];
  indicesToImage(indices: tf.Tensor[], opts: { allScales?: boolean } = {}): tf.Tensor4D | tf.Tensor4D[] {
    const fHats = this.indicesToFHat(indices, opts);
    const imgs = fHats.map((f) => this.decode(f));
    tf.dispose(fHats);
    return opts.allScales ? imgs : imgs[0];
  }

  /** `idxBl_to_var_input`: the transformer's teacher-forcing input (B, L - pn_0², Cvae). */
  indicesToVarInput(indices: tf.Tensor[]): tf.Tensor3D {
    return this.quantize.idxBlToVarInput(indices);
  }

  /**
   * `img_to_reconstructed_img`: encode, quantize and decode. The final image,
   * or with `allScales` the decoded f̂ after every scale (coarse to fine).
   */
  reconstruct(img: tf.Tensor4D, opts?: { allScales?: false; patchNums?: readonly number[] }): tf.Tensor4D;
  reconstruct(img: tf.Tensor4D, opts: { allScales: true; patchNums?: readonly number[] }): tf.Tensor4D[];
  reconstruct(img: tf.Tensor4D, opts: { allScales?: boolean; patchNums?: readonly number[] } = {}): tf.Tensor4D | tf.Tensor4D[] {
    const fHats = this.fHatPerScale(img, opts.patchNums);
    const keep = opts.allScales ? fHats : [fHats[fHats.length - 1]];
    const imgs = keep.map((f) => this.decode(f));
    tf.dispose(fHats);
    return opts.allScales ? imgs : imgs[0];
  }

  /**
   * `VQVAE.forward`, the training forward: rec = decoder(post_quant_conv(f̂))
   * with the straight-through f̂ of the quantizer's training forward (not
   * clamped), and the losses: recLoss = mse(rec, img), vqLoss, loss = their
   * sum. Wrap in `tf.variableGrads(() => vae.forwardTrain(img).loss)` for the
   * gradients (the official compound loss adds LPIPS and a GAN term, which the
   * official repository does not ship). With `collect`, also each scale's
   * codes and quantizer inputs (for codebook usage and restarts).
   */
  forwardTrain(img: tf.Tensor4D, opts: VqvaeTrainOptions = {}): VqvaeTrainOutput {
    registerGradients();
    this.checkImages(img);
    return tf.tidy(() => {
      const f = this.quant_conv.forward(this.encoder.forward(img));
      const { fHat, vqLoss, indices, inputs, prefixFHats } = this.quantize.forwardTrain(f, { collect: opts.collect, prefixes: opts.prefixes });
      const features = this.decoder.features(this.post_quant_conv.forward(fHat));
      const rec = this.decoder.conv_out.forward(features);
      const recLoss = tf.mean(tf.squaredDifference(rec, img)) as tf.Scalar;
      const loss = tf.add(recLoss, vqLoss) as tf.Scalar;
      return {
        rec,
        vqLoss,
        recLoss,
        loss,
        ...(opts.collect ? { indices, inputs } : {}),
        ...(opts.features ? { features } : {}),
        ...(prefixFHats ? { prefixRecs: prefixFHats.map((p) => this.decoder.forward(this.post_quant_conv.forward(p))) } : {}),
      };
    }) as VqvaeTrainOutput;
  }
}

export interface LoadVqvaeOptions {
  /** The architecture; inferred from the checkpoint's shapes when omitted. */
  config?: VqvaeConfig;
  /**
   * Token-map sides (overrides the config's). Default: the file's `patch_nums`
   * metadata (safetensors written by @nextscale/train), else the 10 scales
   * of 256 px; required for other checkpoints with other than 10 scales.
   */
  patchNums?: readonly number[];
  /**
   * Called before the first tensor (`loaded: 0`) and after each one: `file`
   * is the checkpoint's name, `loaded`/`total` count tensors, `bytes`/
   * `totalBytes` their sizes in the file (what is read), so a caller can show
   * honest progress and an ETA while a large checkpoint loads.
   */
  onProgress?: (p: { file: string; key: string; loaded: number; total: number; bytes: number; totalBytes: number }) => void;
  /**
   * Pack the weights for inference as they load (`packWhileLoading` in
   * @nextscale/core): on wasm each weight is then held once. Inference only;
   * default false.
   */
  pack?: boolean;
}

/** A VAR's or Inception's checkpoint passed as the VQ-VAE: a `StateDictError` that names the file and what it looks like. */
function checkIsVqvae(store: TensorStore): void {
  const kind = inspectCheckpoint(store).kind;
  if (kind !== "var" && kind !== "inception") return;
  const looks =
    kind === "var"
      ? "looks like a VAR checkpoint (it has class_emb.weight, blocks.*), not a VQ-VAE: load it with VarTransformer.fromCheckpoint (as the VAR), and load the VQ-VAE's file (vae_ch160v4096z32.pth) here"
      : "looks like an Inception checkpoint (it has Conv2d_1a_3x3.*, Mixed_*: the FID network), not a VQ-VAE";
  const need = ["quantize.embedding.weight", "encoder.conv_in.weight"];
  const e = new StateDictError({ missing: need.filter((k) => !store.has(k)), unexpected: [], mismatched: [] }, `checkpoint ${store.name} into VQVAE`);
  e.message = `cannot load checkpoint ${store.name} into VQVAE: ${store.name} ${looks}`;
  throw e;
}

/**
 * Load a VQ-VAE checkpoint (`vae_ch160v4096z32.pth`, safetensors, …) by
 * name. Like the official `VQVAE.load_state_dict`, an `ema_vocab_hit_SV`
 * buffer with another number of scales is ignored (it only records codebook
 * usage). A VAR's or Inception's checkpoint is a `StateDictError` saying
 * what it looks like ("… looks like a VAR checkpoint …"); a checkpoint of
 * another model is a `VqvaeInputError` (or, with `config`, a
 * `StateDictError` listing the keys).
 */
export async function loadVqvae(source: SourceInput | TensorStore, opts: LoadVqvaeOptions = {}): Promise<VQVAE> {
  const isStore = typeof (source as TensorStore).keys === "function" && typeof (source as TensorStore).read === "function";
  const store = isStore ? (source as TensorStore) : await openCheckpoint(source as SourceInput);
  try {
    checkIsVqvae(store);
    const shapes = Object.fromEntries(store.keys().map((k) => [k, store.info(k).shape]));
    const fromFile = patchNumsFromMetadata(store.metadata.patch_nums);
    const patchNums = opts.patchNums ?? fromFile;
    const patch = patchNums ? { patchNums } : {};
    const config = opts.config ? vqvaeConfig({ ...opts.config, ...patch }) : inferVqvaeConfig(shapes, patch);
    const vae = new VQVAE(config);
    const ema = "quantize.ema_vocab_hit_SV";
    const emaShape = vae.quantize.ema_vocab_hit_SV.shape;
    const skipEma = store.has(ema) && !tf.util.arraysEqual(store.info(ema).shape, [...emaShape]);
    const view = skipEma ? withoutKey(store, ema) : store;
    try {
      const problems = vae.checkStateDict(new Map(view.keys().map((k) => [k, view.info(k).shape])));
      problems.missing = problems.missing.filter((k) => k !== ema); // an old or absent usage record is fine
      if (problems.missing.length || problems.unexpected.length || problems.mismatched.length) {
        throw new StateDictError(problems, `checkpoint ${store.name} into VQVAE`);
      }
      await vae.loadStateDict(view, { strict: false, onProgress: opts.onProgress && bytesProgress(vae, view, opts.onProgress), transform: opts.pack ? packWhileLoading(vae) : undefined });
    } catch (e) {
      vae.dispose();
      throw e;
    }
    const buf: Parameter = vae.quantize.ema_vocab_hit_SV;
    if (!buf.isSet) buf.setTorch(tf.zeros([...buf.shape]));
    return vae;
  } finally {
    if (!isStore) await store.close();
  }
}

/** "1,2,3,4" in a safetensors file's metadata (written by @nextscale/train's export) -> [1, 2, 3, 4]; anything else -> undefined. */
function patchNumsFromMetadata(v: unknown): number[] | undefined {
  if (typeof v !== "string" || !/^\d+(,\d+)*$/.test(v)) return undefined;
  return v.split(",").map(Number);
}

/** `loadStateDict`'s per-tensor progress with the file's name and byte counts; reports `loaded: 0` at once. */
function bytesProgress(vae: VQVAE, store: TensorStore, onProgress: NonNullable<LoadVqvaeOptions["onProgress"]>) {
  const sizeOf = (k: string) => {
    const { shape, dtype } = store.info(k);
    return numel(shape) * DTYPE_SIZE[dtype];
  };
  const keys = vae.namedParameters().map(([k]) => k).filter((k) => store.has(k));
  const totalBytes = keys.reduce((s, k) => s + sizeOf(k), 0);
  let bytes = 0;
  onProgress({ file: store.name, key: "", loaded: 0, total: keys.length, bytes, totalBytes });
  return (p: { loaded: number; total: number; key: string }) => {
    bytes += sizeOf(p.key);
    onProgress({ file: store.name, key: p.key, loaded: p.loaded, total: p.total, bytes, totalBytes });
  };
}

/** A view of a store without one key. */
function withoutKey(store: TensorStore, key: string): TensorStore {
  return {
    format: store.format,
    name: store.name,
    metadata: store.metadata,
    keys: () => store.keys().filter((k) => k !== key),
    has: (k) => k !== key && store.has(k),
    info: (k) => store.info(k),
    read: (k) => store.read(k),
    close: () => store.close(),
  };
}
