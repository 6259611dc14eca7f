import { setupTestBackend } from "@nextscale/test-utils";

await setupTestBackend();
