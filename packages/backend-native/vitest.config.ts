import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

export default packageTestConfig({ testTimeout: 60_000 });
