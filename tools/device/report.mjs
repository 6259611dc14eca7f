// Merges what run.sh wrote in OUT (NAME.json: a step's last stdout line,
// NAME.status, NAME.log) into OUT/report.json and OUT/report.md.
//   node report.mjs OUT [--dry-run]
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
const dry = process.argv.includes("--dry-run");
const read = (f) => (existsSync(join(out, f)) ? readFileSync(join(out, f), "utf8").trim() : "");
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
  report.steps[s] = { status: read(`${s}.status`), result, logTail: result ? undefined : read(`${s}.log`).split("\n").slice(-6).join("\n") };
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
  const what = s === "cuda-check" && r ? `${r.ok ? "all pass" : "FAIL"} (${r.results?.length} checks)` : sec(r);
  lines.push(`| ${s} | ${v.status} | ${what} | ${String(device).replace(/\|/g, "/")} |`);
}
const check = report.steps["cuda-check"]?.result;
if (check?.results) {
  lines.push("", "## cuda kernels against tfjs-backend-cpu", "", "| check | max rel. error | pass | ms |", "| --- | --- | --- | --- |");
  for (const c of check.results) lines.push(`| ${c.name} | ${c.maxRelError?.toExponential?.(2) ?? c.error} | ${c.pass} | ${c.ms ?? ""} |`);
  lines.push("", `fallback kernels: ${Object.entries(check.fallbackKernels ?? {}).map(([k, n]) => `${k} ×${n}`).join(", ") || "none"}`);
}
writeFileSync(join(out, "report.md"), `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
