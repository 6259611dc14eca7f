export {
  FASHION_MNIST_CLASSES,
  IdxDataset,
  type IdxDatasetOptions,
  IMAGE_EXTENSIONS,
  type ImageDataset,
  ImageFolderDataset,
  type ImageFolderOptions,
  type OpenDatasetOptions,
  openImageDataset,
  takeFirst,
} from "./datasets.js";
export { DatasetError } from "./errors.js";
export { type FileTree, memoryFileTree } from "./file-tree.js";
export { gunzipIfNeeded, type IdxArray, type IdxType, isGzip, parseIdx, readIdx } from "./idx.js";
export { type Batch, DataLoader, type LoaderOptions } from "./loader.js";
export { centerTransform, cropToPm1, flipHorizontal, resizeShorterSide, type TransformOptions, trainTransform } from "./transform.js";
