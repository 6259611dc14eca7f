/**
 * The fenced code blocks of the repository's README.md files, and what the
 * README test does with each: run it (TypeScript/JavaScript with node, shell
 * with bash), or not, because an HTML comment right before the fence says
 * why (`<!-- not-run: reason -->`, invisible on GitHub). Blocks in other
 * languages, or none, are text (output samples, layouts) and never run.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export const RUN_LANGS = { ts: "ts", typescript: "ts", js: "js", javascript: "js", mjs: "js", sh: "sh", bash: "sh", shell: "sh" } as const;

export interface Block {
  /** The README, from the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** ts, js or sh: how it runs; null: text. */
  kind: "ts" | "js" | "sh" | null;
  code: string;
  /** The marker's reason when the block is not run. */
  notRun: string | null;
}

const SKIP_DIRS = new Set(["node_modules", "dist", "coverage"]);

/** Every README.md under `root` (hidden folders, node_modules and dist aside), sorted. */
export function findReadmes(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".") || SKIP_DIRS.has(name)) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (depth < 4) walk(p, depth + 1);
      } else if (name === "README.md") out.push(relative(root, p));
    }
  };
  walk(root, 0);
  return out;
}

const MARKER = /^<!--\s*not-run:\s*(.*?)\s*-->$/;

/** The fenced blocks of one README's text; a marker that precedes no code block is an error. */
export function parseBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]);
    if (!open) {
      if (MARKER.test(lines[i].trim())) {
        let j = i + 1;
        while (j < lines.length && lines[j].trim() === "") j++;
        if (j >= lines.length || !/^\s*(`{3,}|~{3,})/.test(lines[j])) throw new Error(`${file}:${i + 1}: a not-run marker must come right before a code block`);
      }
      continue;
    }
    const [, indent, fence, lang] = open;
    let end = i + 1;
    const close = new RegExp(`^\\s*\\${fence[0]}{${fence.length},}\\s*$`);
    while (end < lines.length && !close.test(lines[end])) end++;
    if (end >= lines.length) throw new Error(`${file}:${i + 1}: unclosed code block`);
    const code = lines
      .slice(i + 1, end)
      .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
      .join("\n");
    let prev = i - 1;
    while (prev >= 0 && lines[prev].trim() === "") prev--;
    const marker = prev >= 0 ? MARKER.exec(lines[prev].trim()) : null;
    const kind = (RUN_LANGS as Record<string, Block["kind"]>)[lang.toLowerCase()] ?? null;
    if (marker && !marker[1]) throw new Error(`${file}:${prev + 1}: a not-run marker needs its reason`);
    if (marker && !kind) throw new Error(`${file}:${prev + 1}: a not-run marker before a ${lang || "plain"} block, which never runs`);
    blocks.push({ file, line: i + 1, lang, kind, code, notRun: marker ? marker[1] : null });
    i = end;
  }
  return blocks;
}

export function readmeBlocks(root: string): Block[] {
  return findReadmes(root).flatMap((f) => parseBlocks(f, readFileSync(join(root, f), "utf8")));
}
