import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({
  setupFiles: ["./src/test-setup.ts"],
  // On webgpu in Node (CI: Dawn on SwiftShader, WebGPU emulated on the CPU) a 64×64 VQ-VAE decode
  // takes seconds and each new shape compiles its shaders: single tests run past a minute.
  testTimeout: process.env.NEXTSCALE_BACKEND === "webgpu" ? 600_000 : 120_000,
});
