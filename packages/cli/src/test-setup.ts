import { setupTestBackend } from "@nextscale/test-utils";

// the backend of NEXTSCALE_BACKEND, printed, with the conformance skip list applied
await setupTestBackend();
