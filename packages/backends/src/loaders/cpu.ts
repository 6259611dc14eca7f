/** cpu: `@tensorflow/tfjs-backend-cpu`, plain JavaScript; always available. */
import * as tf from "@tensorflow/tfjs-core";
import type { Loader } from "../types.js";

export const cpuLoader: Loader = {
  async probe() {
    return undefined;
  },
  note: () => "plain JavaScript (about 40× slower than wasm)",
  async register() {
    await import("@tensorflow/tfjs-backend-cpu");
  },
  afterInit() {
    // tfjs-backend-cpu greets its first tensor in Node with a banner recommending tfjs-node (which cannot be
    // installed here): this backend was chosen on purpose, so it is told it has been used already
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  },
  info: () => ({ device: "plain JavaScript, 1 thread", threads: 1, weightPacking: false }),
  built: () => false,
};
