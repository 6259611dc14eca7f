import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

// end-to-end tests in headless Chromium (test/demo.test.ts); one file, one browser
export default packageTestConfig({ include: ["test/**/*.test.ts"], testTimeout: 300_000, hookTimeout: 180_000 });
