/**
 * The CLI's backend choice: `--backend B`, else NEXTSCALE_BACKEND, else native
 * (@nextscale/backend-native, where its addon is built), then wasm, then cpu.
 */
import { type BackendName, backendFromEnv, initBackend } from "@nextscale/backends";

/** The default order: native measured 2–3× faster than wasm for training and about 2× for generation on this project's machines. */
export const DEFAULT_BACKENDS: BackendName[] = ["native", "wasm", "cpu"];

export async function chooseBackend(flag: string | undefined): Promise<BackendName> {
  return initBackend(flag ? backendFromEnv(flag, []) : backendFromEnv(process.env.NEXTSCALE_BACKEND, DEFAULT_BACKENDS));
}
