#!/usr/bin/env node
/**
 * Builds the native parts of @nextscale/backend-native for this machine, at
 * install (and in the workspace's `build`): the N-API addon with the CPU
 * device (g++ or $CXX, Node's headers, OpenBLAS) and the CUDA device's
 * library (nvcc). Nothing is downloaded. What cannot be built is skipped with
 * its reason, written to build/status.json, which the package reads at run
 * time, so install never fails for a missing compiler, BLAS or nvcc.
 *
 * -march=native: the addon is compiled on and for the machine that installs it.
 * Rebuilds only when a source or the toolchain changed (build/stamp.json).
 * NEXTSCALE_NATIVE_SKIP=1 builds nothing.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build");
mkdirSync(out, { recursive: true });
const log = (s) => process.stdout.write(`@nextscale/backend-native: ${s}\n`);

/** The first of `names` on PATH (or an absolute path that exists). */
function which(...names) {
  for (const n of names.filter(Boolean)) {
    if (n.includes("/")) {
      if (existsSync(n)) return n;
      continue;
    }
    const r = spawnSync("sh", ["-c", `command -v ${n}`], { encoding: "utf8" });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

function firstExisting(paths) {
  return paths.find((p) => existsSync(p));
}

function sourcesHash(dir, extra) {
  const h = createHash("sha256").update(extra);
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(p.slice(root.length)).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest("hex");
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || r.error?.message || "").trim().slice(-2000).replace(/\s*\n\s*/g, "; ")}`);
}

const status = { cpu: { built: false, reason: "" }, cuda: { built: false, reason: "" }, cudaEmulation: { built: false, reason: "" } };
const stampFile = join(out, "stamp.json");
const stamp = existsSync(stampFile) ? JSON.parse(readFileSync(stampFile, "utf8")) : {};

function buildCpu() {
  const cxx = which(process.env.CXX, "g++", "c++", "clang++");
  if (!cxx) return "no C++ compiler (g++, c++ or clang++; or set CXX)";
  const nodeInclude = firstExisting([
    process.env.NEXTSCALE_NODE_INCLUDE,
    join(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean));
  if (!nodeInclude || !existsSync(join(nodeInclude, "node_api.h"))) return "no Node headers (node_api.h; Debian: they come with nodejs; or set NEXTSCALE_NODE_INCLUDE)";
  const cblas = firstExisting(["/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/aarch64-linux-gnu/cblas.h", "/usr/include/cblas.h", "/usr/include/openblas/cblas.h"]);
  if (!cblas) return "no OpenBLAS (cblas.h not found; Debian: apt-get install libopenblas-dev)";
  const version = spawnSync(cxx, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  // oneDNN (Debian: libdnnl-dev) for the convolutions, when its headers are there; NEXTSCALE_NO_DNNL=1 builds without it
  const dnnl = process.env.NEXTSCALE_NO_DNNL === "1" ? undefined : firstExisting(["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/include/dnnl.hpp"]);
  const hash = sourcesHash(join(root, "native", "cpu"), `${version}|${nodeInclude}|${cblas}|${dnnl ?? "no dnnl"}|${readFileSync(join(root, "native", "addon.cc"))}`);
  const target = join(out, "nextscale_native.node");
  if (stamp.cpu === hash && existsSync(target)) {
    log("cpu device: up to date");
    return "";
  }
  log(`cpu device: compiling with ${version}`);
  const tmp = `${target}.${process.pid}.tmp`;
  run(cxx, [
    "-std=c++17", "-O3", "-march=native", "-fPIC", "-shared", "-DNODE_GYP_MODULE_NAME=nextscale_native",
    `-I${nodeInclude}`, `-I${dirname(cblas)}`, `-I${join(root, "native")}`,
    join(root, "native", "addon.cc"), join(root, "native", "cpu", "kernels.cc"), join(root, "native", "cpu", "dnnl_conv.cc"),
    join(root, "native", "cpu", "train_kernels.cc"),
    ...(dnnl ? ["-DNEXTSCALE_DNNL", "-fopenmp", `-I${dirname(dnnl)}`] : []),
    "-o", tmp, "-lopenblas", ...(dnnl ? ["-ldnnl"] : []), "-lpthread", "-ldl",
  ]);
  log(dnnl ? "cpu device: convolutions through oneDNN" : "cpu device: no oneDNN (dnnl.hpp; Debian: apt-get install libdnnl-dev): convolutions as im2col + OpenBLAS");
  renameSync(tmp, target);
  stamp.cpu = hash;
  return "";
}

function nodeHeaders() {
  return firstExisting([
    process.env.NEXTSCALE_NODE_INCLUDE,
    join(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter((p) => p && existsSync(join(p, "node_api.h"))));
}

/** The CUDA device on a GPU: native/cuda/{device.cu,binding.cc} by nvcc into build/nextscale_cuda.node (cudart static, cuBLAS dlopened at run time). */
function buildCuda() {
  const nvcc = which(process.env.NVCC, "nvcc", "/usr/local/cuda/bin/nvcc");
  if (!nvcc) return "no nvcc (the CUDA toolkit is not installed)";
  const nodeInclude = nodeHeaders();
  if (!nodeInclude) return "no Node headers (node_api.h; or set NEXTSCALE_NODE_INCLUDE)";
  const version = execFileSync(nvcc, ["--version"], { encoding: "utf8" }).trim().split("\n").pop();
  const hash = sourcesHash(join(root, "native", "cuda"), `${version}|${nodeInclude}`);
  const target = join(out, "nextscale_cuda.node");
  if (stamp.cuda === hash && existsSync(target)) {
    log("cuda device: up to date");
    return "";
  }
  log(`cuda device: compiling with nvcc (${version})`);
  const tmp = `${target}.${process.pid}.tmp`;
  run(nvcc, [
    "-O3", "-shared", "-Xcompiler", "-fPIC", "-cudart", "static", "-DNODE_GYP_MODULE_NAME=nextscale_cuda",
    `-I${nodeInclude}`, `-I${join(root, "native", "cuda")}`,
    "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90", "-gencode", "arch=compute_90,code=compute_90",
    join(root, "native", "cuda", "device.cu"), join(root, "native", "cuda", "binding.cc"), "-o", tmp, "-ldl",
  ]);
  renameSync(tmp, target);
  stamp.cuda = hash;
  return "";
}

/**
 * The CUDA device's host emulation (NEXTSCALE_CUDA_EMULATE=1): the same kernel bodies and binding
 * compiled by the C++ compiler into build/nextscale_cuda_emu.node, portable (no -march=native), no nvcc needed.
 */
function buildCudaEmulation() {
  const cxx = which(process.env.CXX, "g++", "c++", "clang++");
  if (!cxx) return "no C++ compiler (g++, c++ or clang++; or set CXX)";
  const nodeInclude = nodeHeaders();
  if (!nodeInclude) return "no Node headers (node_api.h; or set NEXTSCALE_NODE_INCLUDE)";
  const version = spawnSync(cxx, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  const hash = sourcesHash(join(root, "native", "cuda"), `emu|${version}|${nodeInclude}`);
  const target = join(out, "nextscale_cuda_emu.node");
  if (stamp.cudaEmulation === hash && existsSync(target)) {
    log("cuda host emulation: up to date");
    return "";
  }
  log(`cuda host emulation: compiling with ${version}`);
  const tmp = `${target}.${process.pid}.tmp`;
  run(cxx, [
    "-std=c++17", "-O2", "-fPIC", "-shared", "-DNODE_GYP_MODULE_NAME=nextscale_cuda_emu", `-I${nodeInclude}`, `-I${join(root, "native", "cuda")}`,
    join(root, "native", "cuda", "binding.cc"), join(root, "native", "cuda", "emulate.cc"), "-o", tmp,
  ]);
  renameSync(tmp, target);
  stamp.cudaEmulation = hash;
  return "";
}

if (process.env.NEXTSCALE_NATIVE_SKIP === "1") {
  status.cpu.reason = status.cuda.reason = status.cudaEmulation.reason = "not built: NEXTSCALE_NATIVE_SKIP=1";
} else {
  for (const [device, build] of [["cpu", buildCpu], ["cuda", buildCuda], ["cudaEmulation", buildCudaEmulation]]) {
    try {
      const why = build();
      status[device] = { built: !why, reason: why };
    } catch (e) {
      status[device] = { built: false, reason: e.message };
    }
    if (!status[device].built) log(`${device} device not built: ${status[device].reason}`);
  }
}
writeFileSync(stampFile, JSON.stringify(stamp));
writeFileSync(join(out, "status.json"), `${JSON.stringify(status, null, 2)}\n`);
