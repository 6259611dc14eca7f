/** Image files and image tensors for the CLI commands. */
import { readFileSync } from "node:fs";
import { decodeImage, type RgbImage } from "@nextscale/core";
import * as tf from "@tensorflow/tfjs-core";
import { UsageError } from "./commands/types.js";

/** Read and decode a PNG/JPEG named by a flag; a missing or unreadable file is a one-line error. */
export function readImageFile(path: string, flag: string): RgbImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${(e as Error).message}`, 1);
  }
  return decodeImage(bytes, path);
}

/** (B, H, W, 3) in [0, 1] -> one RgbImage per row (read asynchronously: works on every backend). */
export async function toRgbImages(images: tf.Tensor4D): Promise<RgbImage[]> {
  const [B, H, W] = images.shape;
  const d = (await images.data()) as Float32Array;
  return Array.from({ length: B }, (_, b) => ({ width: W, height: H, data: d.slice(b * H * W * 3, (b + 1) * H * W * 3) }));
}

/** (B, H, W, 3) decoder output in [-1, 1] -> RgbImages in [0, 1], as the official code maps pixels. */
export async function fromSignedImages(images: tf.Tensor4D): Promise<RgbImage[]> {
  const u = tf.tidy(() => tf.mul(tf.add(images, 1), 0.5) as tf.Tensor4D);
  try {
    return await toRgbImages(u);
  } finally {
    u.dispose();
  }
}
