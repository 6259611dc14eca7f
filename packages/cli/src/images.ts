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

/** An image enlarged k times (nearest neighbour: pixels stay visible as pixels); k <= 1 returns it as it is. */
export function zoomImage(im: RgbImage, k: number): RgbImage {
  if (k <= 1) return im;
  const W = im.width * k;
  const H = im.height * k;
  const data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = ((Math.floor(y / k) * im.width + Math.floor(x / k)) * 3) | 0;
      const d = (y * W + x) * 3;
      data[d] = im.data[s];
      data[d + 1] = im.data[s + 1];
      data[d + 2] = im.data[s + 2];
    }
  }
  return { width: W, height: H, data };
}

/** Images smaller than `minSide` enlarged by the smallest integer factor that reaches it (see `zoomImage`). */
export function enlarge(images: RgbImage[], minSide = 64): RgbImage[] {
  return images.map((im) => zoomImage(im, Math.ceil(minSide / Math.min(im.width, im.height))));
}
