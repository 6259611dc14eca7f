/**
 * Picked up by the test's vite build (its root is this folder): bundle the
 * workspace packages from their sources, as every test does, so the page needs
 * no prior `pnpm build`.
 */
import { defineConfig } from "vite";
import { sourceResolve } from "../../test-utils/vitest.shared.ts";

export default defineConfig({ resolve: sourceResolve });
