/**
 * Placeholder demo until the sampler lands: inspects a checkpoint chosen by
 * the user, entirely in the browser (nothing is uploaded).
 */
import { inspectCheckpoint, openCheckpoint } from "@nextscale/core";

const input = document.querySelector<HTMLInputElement>("#file")!;
const out = document.querySelector<HTMLPreElement>("#out")!;
input.addEventListener("change", async () => {
  const file = input.files?.[0];
  if (!file) return;
  try {
    const store = await openCheckpoint(file);
    const { keys, ...summary } = inspectCheckpoint(store);
    out.textContent = JSON.stringify({ ...summary, keys: Object.keys(keys).length }, null, 2);
  } catch (e) {
    out.textContent = `error: ${(e as Error).message}`;
  }
});
