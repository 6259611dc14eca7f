import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({ testTimeout: 120_000, hookTimeout: 120_000 });
