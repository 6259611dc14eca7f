// Merges what run.sh wrote in OUT (NAME.json: a step's last stdout line,
// NAME.status, NAME.log) into OUT/report.json and OUT/report.md.
//   node report.mjs OUT [--dry-run]
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
const dry = process.argv.includes("--dry-run");
const read = (f) => (existsSync(join(out, f)) ? readFileSync(join(out, f), "utf8").trim() : "");
// A parity step (one test file, vitest-shim.mjs): its final JSON line, or, when the run was cut short, what
// its "[result] {json}" lines say; and the measured errors the tests printed (lines with "[parity]" or "max").
function parityResult(s, result) {
  const stdout = read(`${s}.stdout`).split("\n");
  if (!result?.tests) {
    const tests = [];
    for (const l of stdout) {
      if (!l.startsWith("[result] ")) continue;
      try {
        tests.push(JSON.parse(l.slice("[result] ".length)));
      } catch {}
    }
    const n = (st) => tests.filter((t) => t.status === st).length;
    result = { partial: true, passed: n("passed"), failed: n("failed"), skipped: n("skipped"), todo: n("todo"), errors: ["no summary line: cut short or crashed (see the log)"], tests };
  }
  result.measured = stdout.filter((l) => !l.startsWith("[result] ") && !l.startsWith("{") && (l.includes("[parity]") || /max/i.test(l)));
  return result;
}
const steps = readdirSync(out)
  .filter((f) => f.endsWith(".status"))
  .map((f) => f.slice(0, -".status".length))
  .sort();
const report = { dryRun: dry, gpu: read("gpu.txt"), date: new Date().toISOString(), steps: {} };
for (const s of steps) {
  let result = null;
  try {
    result = JSON.parse(read(`${s}.json`));
  } catch {
    result = null;
  }
  if (s.startsWith("parity-")) result = parityResult(s, result);
  report.steps[s] = { status: read(`${s}.status`), result, logTail: result && !result.partial ? undefined : read(`${s}.log`).split("\n").slice(-6).join("\n") };
}
writeFileSync(join(out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);

const sec = (r) => (typeof r?.seconds_per_image === "number" ? r.seconds_per_image.toFixed(3) : "–");
const lines = [
  `# nextscale on ${report.gpu || "?"}${dry ? " — DRY RUN (cuda host emulation, tiny sizes: not GPU numbers)" : ""}`,
  "",
  `${report.date}. d16, random weights, cfg 1.5, top-k 900, top-p 0.96, decode included; seconds per image (median of warm runs).`,
  "",
  "| step | status | seconds per image | device |",
  "| --- | --- | --- | --- |",
];
for (const [s, v] of Object.entries(report.steps)) {
  const r = v.result;
  const device = r?.backend?.device ?? r?.device ?? r?.impl ?? "";
  const what =
    s === "cuda-check" && r
      ? `${r.ok ? "all pass" : "FAIL"} (${r.results?.length} checks)`
      : s.startsWith("parity-") && r
        ? `tests: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.partial ? " (cut short)" : ""}`
        : sec(r);
  lines.push(`| ${s} | ${v.status} | ${what} | ${String(device).replace(/\|/g, "/")} |`);
}
const check = report.steps["cuda-check"]?.result;
if (check?.results) {
  lines.push("", "## cuda kernels against tfjs-backend-cpu", "", "| check | max rel. error | pass | ms |", "| --- | --- | --- | --- |");
  for (const c of check.results) lines.push(`| ${c.name} | ${c.maxRelError?.toExponential?.(2) ?? c.error} | ${c.pass} | ${c.ms ?? ""} |`);
  lines.push("", `fallback kernels: ${Object.entries(check.fallbackKernels ?? {}).map(([k, n]) => `${k} ×${n}`).join(", ") || "none"}`);
}
const parity = Object.entries(report.steps).filter(([s]) => s.startsWith("parity-"));
if (parity.length) {
  const total = (k) => parity.reduce((a, [, v]) => a + (v.result?.[k] ?? 0), 0);
  lines.push(
    "",
    `## parity on cuda${dry ? " (host emulation)" : ""}`,
    "",
    `The tokenizer, transformer and sampler test files (packages/*/src/*.test.ts) on the ${dry ? "cuda host emulation" : "GPU"}, against the official code's fixtures: ${total("passed")} passed, ${total("failed")} failed, ${total("skipped")} skipped in ${parity.length} files.`,
    "",
    "| file | status | passed | failed | skipped | fallback kernels |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  for (const [s, v] of parity) {
    const r = v.result;
    const fb = Object.entries(r?.fallbackKernels ?? {}).map(([k, n]) => `${k} ×${n}`).join(", ");
    lines.push(`| ${r?.file ?? s.slice("parity-".length)} | ${v.status} | ${r?.passed ?? "–"} | ${r?.failed ?? "–"}${r?.partial ? " (cut short)" : ""} | ${r?.skipped ?? "–"} | ${fb} |`);
  }
  const failing = parity.flatMap(([s, v]) => [
    ...(v.result?.tests ?? []).filter((t) => t.status === "failed").map((t) => `- ${s.slice("parity-".length)}: ${t.name}: ${String(t.error ?? "").split("\n")[0]}`),
    ...(v.result?.errors ?? []).map((e) => `- ${s.slice("parity-".length)}: ${String(e).split("\n")[0]}`),
    ...(v.result ? [] : [`- ${s.slice("parity-".length)}: no result (${v.status}): ${(v.logTail ?? "").split("\n").pop()}`]),
  ]);
  if (failing.length) lines.push("", "### failing", "", ...failing);
  const skipped = parity.flatMap(([s, v]) => (v.result?.tests ?? []).filter((t) => t.status === "skipped").map((t) => `- ${s.slice("parity-".length)}: ${t.name}${t.reason ? ` (${t.reason})` : ""}`));
  if (skipped.length) lines.push("", "### skipped", "", ...skipped);
  const measured = parity.filter(([, v]) => v.result?.measured?.length);
  if (measured.length) {
    lines.push("", "### measured errors (printed by the tests)", "");
    for (const [s, v] of measured) lines.push(`${s.slice("parity-".length)}:`, "", "```", ...v.result.measured.slice(0, 80), ...(v.result.measured.length > 80 ? [`… ${v.result.measured.length - 80} more in ${s}.stdout`] : []), "```", "");
  }
}
writeFileSync(join(out, "report.md"), `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
