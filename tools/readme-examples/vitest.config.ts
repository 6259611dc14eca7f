import { packageTestConfig } from "../test-utils/vitest.shared.ts";

// One test per README code block; each block runs in its own node or bash process (at most 120 s).
export default packageTestConfig({ testTimeout: 130_000, hookTimeout: 120_000 });
