#!/usr/bin/env bash
# Prepares .device/ (the project root's, git-ignored) for one run on a GPU
# machine that has CUDA, PyTorch and Python but no Node.js, no compiler
# guarantee and no registry: node and the Vulkan loaders
# (../shared/tools/device-pack.sh), one bundle of the CLI with the cuda
# backend (bundle.mjs), the tokenizer, transformer and sampler test files
# (parity/bundle-parity.mjs: run on cuda by run.sh), the CUDA device built here by nvcc (sm_80, sm_90 +
# PTX; the CPU addon is -march=native and is not shipped), Dawn for webgpu,
# the official VAR code for the PyTorch side, and run.sh. Then on the GPU:
#   bash .device/run.sh            # everything, < 9 min
#   bash .device/run.sh --dry-run  # here: the same steps on the emulation, tiny
# Build first: pnpm build (with nvcc on PATH). Keeps .device/ under 64 MiB.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
here=tools/device
bash ../shared/tools/device-pack.sh >/dev/null
app=.device/app
rm -rf "$app" .device/build
mkdir -p "$app/bin" "$app/build" .device/build "$app/node_modules/@nextscale/backend-native" "$app/node_modules/webgpu/dist/linux-x64"
# the bundle is made from dist/: rebuild what the cuda backend touches (tsc; the addons are up to date or rebuilt)
pnpm --silent --filter @nextscale/backend-native --filter @nextscale/backends build >/dev/null
node "$here/bundle.mjs" "$app/bin/nextscale.mjs"
# the tokenizer, transformer and sampler test files, from their sources, with vitest-shim.mjs for vitest
# (parity/<package>-<file>.mjs and shared chunks); test-utils reads its skip list at parity/../conformance-skips.json
node "$here/parity/bundle-parity.mjs" "$app/parity" >/dev/null
cp tools/test-utils/conformance-skips.json "$app/"
# the backends' loader imports @nextscale/backend-native by name: a shim onto the bundled copy
cat > "$app/node_modules/@nextscale/backend-native/package.json" <<'J'
{ "name": "@nextscale/backend-native", "type": "module", "exports": "./index.js" }
J
cat > "$app/node_modules/@nextscale/backend-native/index.js" <<'J'
const m = globalThis.__nextscaleNative;
export const status = m.status, register = m.register, deviceInfo = m.deviceInfo, fallbackKernels = m.fallbackKernels;
export const registerCuda = m.registerCuda, cudaInfo = m.cudaInfo, cudaFallbackKernels = m.cudaFallbackKernels;
J
# build/: addon.ts reads bin/../build, src/cuda reads bin/../../build (as dist/ and dist/cuda/ in the package)
nb=packages/backend-native/build
[ -s "$nb/nextscale_cuda.node" ] || { echo "no $nb/nextscale_cuda.node: pnpm build with nvcc on PATH first" >&2; exit 1; }
cp "$nb/nextscale_cuda.node" "$nb/nextscale_cuda_emu.node" .device/build/
cat > .device/build/status.json <<'J'
{ "cpu": { "built": false, "reason": "not shipped: the CPU addon is compiled with -march=native for the machine that built it" },
  "cuda": { "built": true, "reason": "" }, "cudaEmulation": { "built": true, "reason": "" } }
J
cp .device/build/status.json "$app/build/status.json"
wg=$(node -e "console.log(require('node:path').dirname(require.resolve('webgpu/package.json', { paths: ['packages/backends'] })))")
cp "$wg/index.js" "$wg/package.json" "$app/node_modules/webgpu/"
[ -s .device/dawn.node.xz ] || xz -T2 -6 -c "$wg/dist/linux-x64/dawn.node" > .device/dawn.node.xz
# the wasm loader resolves its .wasm files through the package's package.json (wasm itself is bundled)
wa=$(node -e "console.log(require('node:path').dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json', { paths: ['packages/backends'] })))")
mkdir -p "$app/node_modules/@tensorflow/tfjs-backend-wasm/dist"
cp "$wa/package.json" "$app/node_modules/@tensorflow/tfjs-backend-wasm/"
cp "$wa"/dist/*.wasm "$app/node_modules/@tensorflow/tfjs-backend-wasm/dist/"
# in Node the backends' wasm loader runs the threaded SIMD build from wasm-out/ (0.5 MB): the parity bundles on wasm
mkdir -p "$app/node_modules/@tensorflow/tfjs-backend-wasm/wasm-out"
cp "$wa"/wasm-out/tfjs-backend-wasm-threaded-simd.{js,worker.js,wasm} "$app/node_modules/@tensorflow/tfjs-backend-wasm/wasm-out/"
# the PyTorch side: generate_torch.py and the official code it imports
cp tools/bench/generate_torch.py "$here/run.sh" "$here/report.mjs" .device/
mirror=${VAR_MIRROR:-/work/.mirror/FoundationVision+VAR/repo}
rm -rf .device/var && mkdir -p .device/var && git -C "$mirror" archive HEAD models utils dist.py | tar -x -C .device/var
du -sh .device
