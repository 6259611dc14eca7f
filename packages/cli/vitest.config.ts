import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({
  setupFiles: ["./src/test-setup.ts"],
  // On webgpu in Node (CI: Dawn on SwiftShader, WebGPU emulated on the CPU) a command that decodes
  // a few 64×64 images takes 40 s or more, and on cpu (plain JavaScript, about 40× slower than wasm)
  // the fid commands' Inception passes take over a minute (measured: 62 s): more room than on wasm.
  testTimeout: process.env.NEXTSCALE_BACKEND === "webgpu" || process.env.NEXTSCALE_BACKEND === "cpu" ? 300_000 : 60_000,
});
