/**
 * Test helper: the tiny VAR fixture widened to 1000 classes (the official
 * models' count), so class names, the drawn-classes line and grid labels run
 * end to end. Class c uses the tiny model's embedding of class c mod 10; the
 * extra "no class" row (index 1000) is the tiny model's (index 10).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HostTensor, openCheckpoint, writeSafetensors } from "@nextscale/core";

export async function thousandClassVar(varFile: string, dir: string): Promise<string> {
  const store = await openCheckpoint(varFile);
  const tensors = new Map<string, HostTensor>();
  try {
    for (const k of store.keys()) tensors.set(k, await store.read(k));
  } finally {
    await store.close();
  }
  const emb = tensors.get("class_emb.weight")!;
  if (emb.dtype !== "float32") throw new Error(`class_emb.weight is ${emb.dtype}; the helper expects float32`);
  const [rows, C] = emb.shape;
  const n = rows - 1; // the tiny model's classes
  const src = emb.data as Float32Array;
  const data = new Float32Array(1001 * C);
  for (let c = 0; c < 1000; c++) data.set(src.subarray((c % n) * C, (c % n) * C + C), c * C);
  data.set(src.subarray(n * C, (n + 1) * C), 1000 * C);
  tensors.set("class_emb.weight", { dtype: "float32", shape: [1001, C], data });
  const out = join(dir, "var-1000.safetensors");
  writeFileSync(out, writeSafetensors(tensors));
  return out;
}
