import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({ setupFiles: ["./src/test-setup.ts"], testTimeout: 300_000 });
