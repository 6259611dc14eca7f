/**
 * nextscale's default model: a class-conditional multi-scale VQ-VAE + VAR
 * trained by this project with `nextscale train` on Fashion-MNIST (28×28,
 * 7 scales, 10 classes). `loadModels()` of @nextscale/sampler and
 * `nextscale generate` without `--vae/--var` use it; the model card
 * (README.md) has how it was trained and how good it is.
 */
import { weightFile } from "./files.js";

export {
  CLASSIFIER_SHAPES,
  CLASSIFIER_WEIGHTS,
  type ClassifierWeights,
  classifierForward,
  classifierInput,
  createFeatureExtractor,
  initClassifierWeights,
  loadClassifierWeights,
  MEAN,
  STD,
} from "./classifier.js";

/** The model's name (what `nextscale info` and the CLI print). */
export const MODEL_NAME = "fashion-mnist";

/** The VQ-VAE (safetensors, official state-dict names; patch_nums and config in its metadata). */
export const VAE_WEIGHTS = weightFile("vae.safetensors");
/** The VAR (safetensors, official state-dict names). */
export const VAR_WEIGHTS = weightFile("var.safetensors");

/** Fashion-MNIST's classes, by label. */
export const CLASS_NAMES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle boot",
]);

/** Image side in pixels (the images are grey, as RGB with three equal channels). */
export const IMAGE_SIZE = 28;

/** The sampling settings chosen for this model by the sweep in the model card. */
export const SAMPLING_DEFAULTS = Object.freeze({ cfg: 4, topK: 0, topP: 0.9 });

/** What `loadModels()` needs: the two files, as paths (Node) or URLs. */
export function modelFiles(): { vae: string; var: string } {
  return { vae: VAE_WEIGHTS, var: VAR_WEIGHTS };
}
