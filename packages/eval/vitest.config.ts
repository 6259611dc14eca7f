import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({
  setupFiles: ["./src/test-setup.ts"],
  // On webgpu in Node (CI: Dawn on SwiftShader, WebGPU emulated on the CPU) Inception-v3 on the
  // FID bundle's 4 images takes about 100 s on 2 cores, more when the machine is shared.
  testTimeout: process.env.NEXTSCALE_BACKEND === "webgpu" ? 600_000 : 120_000,
});
