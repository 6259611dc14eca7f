/** cuda: a native addon of its own (see the CUDA backend issue); not built in this version. */
import type { Loader } from "../types.js";

export const cudaLoader: Loader = {
  async probe() {
    return "cuda: no native addon built (the CUDA backend is not part of this version)";
  },
  note: () => "",
  async register() {},
  info: () => ({ device: "cuda", weightPacking: false }),
  built: () => false,
};
