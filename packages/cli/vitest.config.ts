import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({
  setupFiles: ["./src/test-setup.ts"],
  // On webgpu in Node (CI: Dawn on SwiftShader, WebGPU emulated on the CPU) a command that decodes
  // a few 64×64 images takes 40 s or more: more room than on wasm or cpu.
  testTimeout: process.env.NEXTSCALE_BACKEND === "webgpu" ? 300_000 : 60_000,
});
