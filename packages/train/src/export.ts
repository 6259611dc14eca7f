/**
 * A trained model as a file the rest of nextscale loads: the VQ-VAE as
 * safetensors under the official state-dict names (what `loadVqvae`,
 * `nextscale reconstruct` and `nextscale generate --vae` take), with its
 * patch_nums in the metadata so that no `--patch-nums` is needed; the VAR
 * as the official `.pth` (`writeOfficialVarPth`).
 */
import { writeSafetensors } from "@nextscale/core";
import type { VQVAE } from "@nextscale/tokenizer";

/** The VQ-VAE's weights as safetensors bytes, `patch_nums` (and the config, JSON) in `__metadata__`. */
export async function vqvaeSafetensors(vae: VQVAE, extra: Record<string, string> = {}): Promise<Uint8Array> {
  const sd = await vae.stateDict();
  return writeSafetensors(sd, {
    format: "nextscale-vqvae",
    patch_nums: vae.config.patchNums.join(","),
    config: JSON.stringify(vae.config),
    ...extra,
  });
}
