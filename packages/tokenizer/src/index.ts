/**
 * @nextscale/tokenizer: the VAR multi-scale VQ-VAE. Images <-> multi-scale
 * token maps with float32 parity to the official PyTorch model; loads
 * `vae_ch160v4096z32.pth` as it is.
 */
export { AttnBlock, Downsample2x, normalize, ResnetBlock, ResolutionLevel, Upsample2x } from "./basic-vae.js";
export {
  checkPatchNums,
  downsampleRatio,
  imageSize,
  inferVqvaeConfig,
  PATCH_NUMS,
  VQVAE_PRESETS,
  type VqvaeConfig,
  vqvaeConfig,
  vqvaeConfigFromKwargs,
  type VqvaeKwargs,
  type VqvaePresetName,
} from "./config.js";
export { Decoder } from "./decoder.js";
export { Encoder, MidBlock } from "./encoder.js";
export { VqvaeInputError } from "./errors.js";
export { MultiScaleQuantizer, type QuantizerTrainOptions, type QuantizerTrainOutput } from "./multi-scale-quantizer.js";
export {
  Identity,
  linspace,
  makeQuantResi,
  nearestTick,
  Phi,
  phiIndexPerScale,
  PhiNonShared,
  PhiPartiallyShared,
  type PhiSelector,
  PhiShared,
  phiTicks,
} from "./phi.js";
export { type LoadVqvaeOptions, loadVqvae, VQVAE, type VqvaeTrainOptions, type VqvaeTrainOutput } from "./vqvae.js";
