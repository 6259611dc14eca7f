/**
 * @nextscale/core: the module tree with PyTorch state-dict names, the
 * layers the models share, and checkpoint I/O without Python.
 */

export { AdamWUpdate, type AdamWUpdateAttrs, PackedWeightError } from "@nextscale/contract";
export {
  type CacheEntry,
  type CacheOptions,
  cachedModelPath,
  type DownloadFileOptions,
  type DownloadFileResult,
  type DownloadModelOptions,
  type DownloadModelResult,
  type DownloadProgress,
  downloadFile,
  downloadModel,
  type IntegrityCheck,
  modelCacheDir,
  modelCacheStatus,
  type ResolveModelOptions,
  resolveModel,
} from "#model-cache";
export { drawText, FONT_CHARS, GLYPH_H, GLYPH_W, glyphPixel, textWidth } from "./font.js";
export { GRADIENT_KERNELS, registerGradients, stopGradient } from "./gradients.js";
export {
  FID_WEIGHTS_BASE_URL,
  fileNameHashPrefix,
  formatBytes,
  HUB_BASE_URL,
  ModelDownloadError,
  ModelNotCachedError,
  type ModelUrlOptions,
  OFFICIAL_MODELS,
  type OfficialModel,
  type OfficialModelName,
  officialModel,
  officialModelUrl,
} from "./hub/registry.js";
export { decodeImage, encodePng, ImageFormatError, type ImageGridOptions, imageGrid, type RgbImage, toUint8Rgb } from "./image.js";
export { type CheckpointSummary, inspectCheckpoint } from "./info.js";
export { type OpenOptions, openCheckpoint } from "./io/checkpoint.js";
export {
  DTYPE_SIZE,
  type DType,
  type HostArray,
  type HostTensor,
  halfToFloat,
  numel,
  toFloat32,
  toInt32,
} from "./io/dtype.js";
export {
  checkNpyDataSize,
  NPY_MAX_HEADER,
  type NpyHeader,
  openNpy,
  openNpz,
  parseNpyHeader,
  parseNpyPreamble,
  readNpy,
  readNpzHeader,
  writeNpy,
  writeNpz,
} from "./io/npy.js";
export { openSource, type SourceInput } from "./io/open.js";
export { PyDict, PyTuple, type UnpickleOptions, unpickle } from "./io/pickle.js";
export { openPth } from "./io/pth.js";
export { type PthValue, PyFloat, type WritePthOptions, writePth } from "./io/pth-write.js";
export { openSafetensors, writeSafetensors } from "./io/safetensors.js";
export {
  BlobSource,
  BufferSource,
  type ByteSource,
  CheckpointFormatError,
  openUrl,
  type Progress,
  type ProgressCallback,
  type UrlSourceOptions,
} from "./io/source.js";
export type { CheckpointFormat, TensorInfo, TensorStore } from "./io/store.js";
export { type ZipEntry, ZipReader } from "./io/zip.js";
export { crc32, writeZipStored } from "./io/zip-write.js";
export {
  adaLNModulate,
  adaLNModulateFallback,
  fusedOp,
  groupNorm,
  groupNormFallback,
  hasFusedKernel,
  kvAttention,
  kvAttentionFallback,
  resample2d,
  resample2dFallback,
} from "./kernels/index.js";
export {
  fromInternal,
  type Layout,
  type LoadOptions,
  type LoadTransform,
  Module,
  ModuleList,
  Parameter,
  StateDictError,
  type StateDictProblems,
  type StateDictSource,
  toInternalLayout,
} from "./module.js";
export { Conv2d, Embedding, GroupNorm, geluTanh, LayerNorm, Linear, silu } from "./nn.js";
export { packedWeightCount, packForInference, packWhileLoading } from "./packing.js";
export { officialPreprocess, type Rgb8Image, resizeLanczos } from "./preprocess.js";
export { Random, type RandomState } from "./random.js";
export { type BilinearTaps, bilinearTaps, type ResampleMode, resampleMatrix, resampleTensor, resize2d } from "./resample.js";
export { recompute } from "./recompute.js";
export { isRecordingGradients, residual, type Step, sequential } from "./sequential.js";
