/**
 * Class names: ImageNet's for the official 1000-class models (and any list a
 * model ships), looked up by any of a class's synonyms, in any case, with
 * `_` or `-` for spaces (`golden_retriever`, `Golden Retriever`,
 * `golden-retriever` → 207).
 */
import { IMAGENET_CLASS_NAMES } from "./imagenet-class-names.js";

export { IMAGENET_CLASS_NAMES };

export class UnknownClassError extends RangeError {
  override name = "UnknownClassError";
}

const normal = (s: string) => s.trim().toLowerCase().replace(/[_\-\s]+/g, " ");

/** The first (most common) name of class `i` in `names`. */
export function className(i: number, names: readonly string[] = IMAGENET_CLASS_NAMES): string {
  const n = names[i];
  if (n === undefined) throw new UnknownClassError(`class ${i}: classes are 0…${names.length - 1}`);
  return n.split(",")[0].trim();
}

/** The index of the class one of whose names is `name` (see the module's docs); ambiguous or unknown names are clear errors. */
export function classIndex(name: string, names: readonly string[] = IMAGENET_CLASS_NAMES): number {
  const want = normal(name);
  const hits: number[] = [];
  names.forEach((n, i) => {
    if (n.split(",").some((s) => normal(s) === want)) hits.push(i);
  });
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) {
    throw new UnknownClassError(`class name "${name}" is ambiguous: ${hits.map((i) => `${i} (${names[i]})`).join(", ")}; give the number`);
  }
  const near = names
    .map((n, i) => [i, n] as const)
    .filter(([, n]) => n.split(",").some((s) => normal(s).includes(want) || (want.length > 3 && want.includes(normal(s)))))
    .slice(0, 5);
  throw new UnknownClassError(
    `unknown class name "${name}"${near.length ? `; did you mean ${near.map(([i, n]) => `${i} (${n.split(",")[0]})`).join(", ")}?` : ""}`,
  );
}
