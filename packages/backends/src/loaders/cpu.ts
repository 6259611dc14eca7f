/** cpu: `@tensorflow/tfjs-backend-cpu`, plain JavaScript; always available. */
import type { Loader } from "../types.js";

export const cpuLoader: Loader = {
  async probe() {
    return undefined;
  },
  note: () => "plain JavaScript (about 40× slower than wasm)",
  async register() {
    await import("@tensorflow/tfjs-backend-cpu");
  },
  info: () => ({ device: "plain JavaScript, 1 thread", threads: 1, weightPacking: false }),
  built: () => false,
};
