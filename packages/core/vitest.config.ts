import { packageTestConfig } from "../../tools/test-utils/vitest.shared.ts";

// "#open-path" (package.json "imports") resolves to src/io/open-path.node.ts through the source condition.
export default packageTestConfig({ setupFiles: ["./src/test-setup.ts"], testTimeout: 60_000 });
