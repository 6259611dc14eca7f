/**
 * `nextscale download NAME …`: the official checkpoints and pytorch-fid's
 * Inception weights into the model cache, by name (the downloader, its
 * resume and its hash checks are core's `downloadModel`).
 */
import {
  type DownloadProgress,
  downloadModel,
  FID_WEIGHTS_BASE_URL,
  formatBytes,
  HUB_BASE_URL,
  type IntegrityCheck,
  ModelDownloadError,
  modelCacheDir,
  modelCacheStatus,
  OFFICIAL_MODELS,
  type OfficialModelName,
  officialModelUrl,
} from "@nextscale/core";
import { parseArgs } from "../args.js";
import { progressBar } from "../progress.js";
import { type Command, type CommandIO, UsageError } from "./types.js";

const NAMES = Object.keys(OFFICIAL_MODELS) as OfficialModelName[];

/** A progress bar in B, kB or MB (whichever keeps the numbers short), created at the first event. */
function byteBar(io: CommandIO, label: string) {
  let bar: ReturnType<typeof progressBar> | undefined;
  let div = 1;
  return (p: DownloadProgress) => {
    if (!bar) {
      const size = p.total ?? 1e9;
      div = size >= 1e8 ? 1e6 : size >= 1e5 ? 1e3 : 1;
      bar = progressBar(io, label, div === 1e6 ? "MB" : div === 1e3 ? "kB" : "B");
    }
    const total = p.total === undefined ? undefined : Math.ceil(p.total / div);
    const done = p.total !== undefined && p.loaded >= p.total ? total! : Math.floor(p.loaded / div);
    bar({ done, total, from: Math.floor(p.resumedFrom / div) });
  };
}

function checkText(c: IntegrityCheck): string {
  if (c.kind === "sha256") return `SHA-256 verified against ${c.against.join(" and ")}`;
  if (c.kind === "prefix") return `SHA-256 checked against ${c.against.join(" and ")}`;
  return "no integrity check was possible";
}

function list(io: CommandIO, json: boolean): number {
  const entries = modelCacheStatus();
  if (json) {
    const rows = entries.map((e) => ({
      name: e.model.name,
      file: e.model.file,
      url: officialModelUrl(e.model),
      approx_bytes: e.model.approxBytes,
      cached: e.bytes !== undefined,
      path: e.path,
      bytes: e.bytes ?? null,
      partial_bytes: e.partialBytes ?? null,
    }));
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const w = Math.max(...NAMES.map((n) => n.length));
  const fw = Math.max(...entries.map((e) => e.model.file.length));
  const lines = [`${"name".padEnd(w)}  ${"file".padEnd(fw)}  ${"size".padEnd(10)}  cached`];
  for (const e of entries) {
    const size = e.bytes !== undefined ? formatBytes(e.bytes) : `~${formatBytes(e.model.approxBytes)}`;
    const state =
      e.bytes !== undefined
        ? `yes: ${e.path}`
        : e.partialBytes !== undefined
          ? `partial: ${formatBytes(e.partialBytes)} in ${e.path}.part (nextscale download ${e.model.name} resumes)`
          : "no";
    lines.push(`${e.model.name.padEnd(w)}  ${e.model.file.padEnd(fw)}  ${size.padEnd(10)}  ${state}`);
  }
  lines.push(
    "",
    `cache: ${modelCacheDir()} (NEXTSCALE_CACHE)`,
    `from: ${officialModelUrl(OFFICIAL_MODELS["var-d16"]).replace(/var_d16\.pth$/, "<file>")} (var-*, vae); ${officialModelUrl(OFFICIAL_MODELS.inception)} (inception)`,
  );
  io.out(`${lines.join("\n")}\n`);
  return 0;
}

export const download: Command = {
  name: "download",
  summary: "download the official checkpoints (var-d16 … var-d36, vae) and FID Inception weights by name into the cache",
  usage: `usage: nextscale download NAME … [--force]
       nextscale download all [--force]
       nextscale download --list [--json]

Fetches official files into the model cache (NEXTSCALE_CACHE, default
~/.cache/nextscale) with a progress bar. An interrupted download resumes where
it stopped (the bytes so far wait in <file>.part). Each file is checked
against the SHA-256 its server states (the hub's X-Linked-Etag) or the hash
prefix in its file name (torch hub's convention); a file that fails is removed.

${NAMES.map((n) => `  ${n.padEnd(10)} ${OFFICIAL_MODELS[n].file} (~${formatBytes(OFFICIAL_MODELS[n].approxBytes)})`).join("\n")}
  all        every file above

var-* and vae come from FoundationVision/var on the Hugging Face hub,
  ${HUB_BASE_URL}/<file>
inception from pytorch-fid's GitHub release,
  ${FID_WEIGHTS_BASE_URL}/<file>
Nothing is downloaded unless asked. Then pass the names where a checkpoint is
taken: generate --vae vae --var var-d16, info var-d16, reconstruct --vae vae,
fid … --inception-weights inception (an existing file of that name wins).

  --list     the names, files, sizes and whether each is cached (and where)
  --json     with --list: a JSON array
  --force    download again even when cached

Environment:
  NEXTSCALE_CACHE            the cache folder
  NEXTSCALE_HUB_URL          replaces the hub URL above (HF_ENDPOINT, a hub
                             mirror, is honoured too)
  NEXTSCALE_FID_WEIGHTS_URL  replaces pytorch-fid's release URL above`,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { list: { type: "boolean", default: false }, json: { type: "boolean", default: false }, force: { type: "boolean", default: false } },
    });
    if (values.list) {
      if (positionals.length) throw new UsageError("--list takes no names");
      return list(io, values.json);
    }
    if (values.json) throw new UsageError("--json goes with --list");
    if (!positionals.length) throw new UsageError(`name what to download (${NAMES.join(", ")} or all), or pass --list`);
    const unknown = positionals.filter((n) => n !== "all" && !NAMES.includes(n as OfficialModelName));
    if (unknown.length) throw new UsageError(`unknown model "${unknown[0]}" (known: ${NAMES.join(", ")}, all)`);
    const names = positionals.includes("all") ? NAMES : [...new Set(positionals as OfficialModelName[])];
    let failed = 0;
    for (const name of names) {
      const model = OFFICIAL_MODELS[name];
      try {
        const r = await downloadModel(name, { force: values.force, onProgress: byteBar(io, model.file) });
        if (r.alreadyCached) {
          io.out(`${name}: already cached: ${r.path} (--force downloads it again)\n`);
          continue;
        }
        if (r.check.kind === "none") {
          io.err(`warning: ${name}: ${r.url} stated no SHA-256 and none is known for ${model.file}: no integrity check was possible\n`);
        }
        const resumed = r.resumedFrom ? `, resumed at ${formatBytes(r.resumedFrom)}` : "";
        io.out(`${name}: ${r.path} (${formatBytes(r.bytes)}${resumed}; ${checkText(r.check)})\n`);
      } catch (e) {
        if (!(e instanceof ModelDownloadError)) throw e;
        io.err(`nextscale download: ${e.message}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  },
};
