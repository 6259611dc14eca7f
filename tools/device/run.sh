#!/usr/bin/env bash
# Runs on the GPU machine, from .device/ (made by tools/device/pack.sh), in one go:
#   1. the cuda kernels against tfjs-backend-cpu on the device (nextscale.mjs check)
#   1b. the tokenizer, transformer and sampler test files (the parity suites against the official
#      code's fixtures in test-fixtures/) on cuda: one step per file, app/parity/<package>-<file>.mjs
#      (bundled by tools/device/parity/bundle-parity.mjs, vitest replaced by vitest-shim.mjs), run
#      from the repository root (.device/..), within PARITY_SECONDS (default 150) in all and
#      PARITY_FILE_SECONDS (default 60) each; PARITY="transformer-* sampler-generate" picks files
#      (globs on the bundle names; default all, and in --dry-run "transformer-*")
#   2. nextscale bench --preset d16 --random-weights at batch 1 and 32 on cuda and on webgpu
#      (Dawn on the NVIDIA Vulkan driver)
#   3. the official VAR code, the same d16 generation, PyTorch eager float32 on the GPU
#      (generate_torch.py --device cuda, TF32 off) at batch 1 and 32
#   4. one report, $OUT/report.json and $OUT/report.md (report.mjs)
# Each step has a timeout within a total of DEADLINE seconds (default 470: < 9 min with the
# unpacking); a step that fails or runs out is reported as such, and the next one runs.
#   bash .device/run.sh             # on the GPU machine
#   bash .device/run.sh --dry-run   # anywhere: the same steps on the cuda host emulation
#                                   # (and cpu PyTorch), tiny: 2 scales, depth-2 PyTorch, batch 1 and 2,
#                                   # parity: the transformer files (PARITY=all: every file, slow)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
DEADLINE=${DEADLINE:-470}
start=$(date +%s)

if [ $dry = 1 ]; then
  NODE=${NODE:-node}
  export NEXTSCALE_CUDA_EMULATE=1
  B2=2; SCALES=(--scales 2); REPEATS=1; TORCH_DEPTH=2; TORCH_DEVICE=cpu; CHECK=(--emulate)
  PARITY=${PARITY:-transformer-*}
else
  bash "$here/setup.sh" > "$OUT/setup.log" 2>&1 || echo "setup.sh failed (see setup.log)"
  NODE=/tmp/nodebin/node
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  B2=32; SCALES=(); REPEATS=2; TORCH_DEPTH=16; TORCH_DEVICE=cuda; CHECK=()
  # cuBLAS from PyTorch's pip wheels when the system has none
  site=$(${PYTHON:-python3} -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" 2>/dev/null || true)
  [ -n "$site" ] && export NEXTSCALE_PYTHON_SITE="$site"
fi
export NEXTSCALE_CUDA_NOTICES=1
# a Python with torch (here: Debian's /usr/bin/python3 has PyTorch 1.13)
PYTHON=${PYTHON:-$(for p in python3 /usr/bin/python3; do "$p" -c "import torch" 2>/dev/null && { echo "$p"; break; }; done)}
PYTHON=${PYTHON:-python3}
dawn="$here/app/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -s "$dawn" ] || python3 -c "import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$here/dawn.node.xz" "$dawn"
N=("$NODE" "$here/app/bin/nextscale.mjs")

# step NAME SECONDS CMD...: its last stdout line to $OUT/NAME.json, stderr to NAME.log, status to NAME.status
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - ($(date +%s) - start)))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -le 5 ]; then echo "skipped (total deadline)" > "$OUT/$name.status"; echo "$name: skipped"; return; fi
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.stdout" 2> "$OUT/$name.log"
  local rc=$?
  tail -n 1 "$OUT/$name.stdout" > "$OUT/$name.json"
  echo "rc=$rc seconds=$(($(date +%s) - t0)) limit=$limit" > "$OUT/$name.status"
  echo "$name: $(cat "$OUT/$name.status")"
}

step cuda-check 60 "${N[@]}" check "${CHECK[@]}"
# the parity suites on cuda, from the repository root (the tests find test-fixtures/ through their bundle's path)
PARITY=${PARITY:-all}
# model-fashion-mnist finds its weights at ../weights from its module (the sampler's default-model test): the tracked ones
[ -e "$here/app/weights" ] || ln -s ../../packages/model-fashion-mnist/weights "$here/app/weights" 2>/dev/null || cp -r "$here/../packages/model-fashion-mnist/weights" "$here/app/weights"
[ "$PARITY" = all ] && PARITY="*"
parity_end=$(($(date +%s) + ${PARITY_SECONDS:-150}))
for f in "$here"/app/parity/*.mjs; do
  name=$(basename "$f" .mjs)
  case $name in chunk-*) continue ;; esac
  pick=0
  for p in $PARITY; do
    # shellcheck disable=SC2254
    case $name in $p) pick=1 ;; esac
  done
  [ $pick = 1 ] || continue
  left=$((parity_end - $(date +%s)))
  limit=${PARITY_FILE_SECONDS:-60}
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then echo "skipped (parity time, PARITY_SECONDS)" > "$OUT/parity-$name.status"; echo "parity-$name: skipped"; continue; fi
  (cd "$here/.." && NEXTSCALE_BACKEND=cuda step "parity-$name" "$limit" "$NODE" "$f")
done
for b in 1 $B2; do
  step "bench-cuda-b$b" 90 "${N[@]}" cli bench --preset d16 --random-weights --batch $b --repeats $REPEATS "${SCALES[@]}" --backend cuda --json
done
for b in 1 $B2; do
  step "bench-webgpu-b$b" 70 "${N[@]}" cli bench --preset d16 --random-weights --batch $b --repeats $REPEATS "${SCALES[@]}" --backend webgpu --json
done
for b in 1 $B2; do
  step "torch-b$b" 60 "$PYTHON" "$here/generate_torch.py" --var-repo "$here/var" --device $TORCH_DEVICE --depth $TORCH_DEPTH --batch $b --repeats $((REPEATS + 1))
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>/dev/null || echo "no nvidia-smi" > "$OUT/gpu.txt"
"$NODE" "$here/report.mjs" "$OUT" $([ $dry = 1 ] && echo --dry-run)
echo "total $(($(date +%s) - start)) s; report: $OUT/report.md"
