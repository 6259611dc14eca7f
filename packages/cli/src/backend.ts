/** The CLI's backend choice: `--backend B`, else NEXTSCALE_BACKEND, else wasm then cpu. */
import { type BackendName, backendFromEnv, initBackend } from "@nextscale/backends";

export async function chooseBackend(flag: string | undefined): Promise<BackendName> {
  return initBackend(flag ? backendFromEnv(flag, []) : backendFromEnv(process.env.NEXTSCALE_BACKEND, ["wasm", "cpu"]));
}
