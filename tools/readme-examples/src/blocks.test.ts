import { describe, expect, it } from "vitest";
import { parseBlocks } from "./blocks.js";

describe("parseBlocks", () => {
  it("finds fenced blocks with their line, language and not-run marker; other languages are text", () => {
    const md = [
      "# x", // 1
      "```ts", // 2
      "const a = 1;", // 3
      "```", // 4
      "<!-- not-run: fragment (a method) -->", // 5
      "", // 6
      "```sh", // 7
      "nextscale help", // 8
      "```", // 9
      "```", // 10
      "output", // 11
      "```", // 12
      "  ```bash", // 13
      "  echo indented", // 14
      "  ```", // 15
      "````js", // 16
      "```", // 17
      "````", // 18
    ].join("\n");
    const b = parseBlocks("R.md", md);
    expect(b.map((x) => [x.line, x.lang, x.kind, x.notRun])).toEqual([
      [2, "ts", "ts", null],
      [7, "sh", "sh", "fragment (a method)"],
      [10, "", null, null],
      [13, "bash", "sh", null],
      [16, "js", "js", null],
    ]);
    expect(b[3].code).toBe("echo indented");
    expect(b[4].code).toBe("```");
  });

  it("refuses a marker without a reason, before no block, or before a text block; an unclosed block", () => {
    expect(() => parseBlocks("R.md", "<!-- not-run: -->\n```sh\nx\n```")).toThrow(/R\.md:1: a not-run marker needs its reason/);
    expect(() => parseBlocks("R.md", "<!-- not-run: why -->\ntext\n```sh\nx\n```")).toThrow(/R\.md:1: a not-run marker must come right before a code block/);
    expect(() => parseBlocks("R.md", "<!-- not-run: why -->\n```text\nx\n```")).toThrow(/R\.md:1: a not-run marker before a text block/);
    expect(() => parseBlocks("R.md", "a\n```ts\nx")).toThrow(/R\.md:2: unclosed code block/);
  });
});
