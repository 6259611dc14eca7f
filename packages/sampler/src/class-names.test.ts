import { describe, expect, it } from "vitest";
import { className, classIndex, IMAGENET_CLASS_NAMES, UnknownClassError } from "./class-names.js";

describe("ImageNet class names", () => {
  it("1000 names, looked up by any synonym in any spelling", () => {
    expect(IMAGENET_CLASS_NAMES).toHaveLength(1000);
    expect(classIndex("golden_retriever")).toBe(207);
    expect(classIndex("Golden Retriever")).toBe(207);
    expect(classIndex("golden-retriever")).toBe(207);
    expect(classIndex("volcano")).toBe(980);
    expect(classIndex("Tinca tinca")).toBe(0);
    expect(className(207)).toBe("golden retriever");
    expect(className(0)).toBe("tench");
  });

  it("ambiguous and unknown names say so, with candidates", () => {
    expect(() => classIndex("crane")).toThrow(/ambiguous: 134 .*, 517 /);
    expect(() => classIndex("retriever")).toThrow(UnknownClassError);
    expect(() => classIndex("retriever")).toThrow(/did you mean .*207 \(golden retriever\)/);
    expect(() => className(1000)).toThrow(/classes are 0…999/);
  });
});
