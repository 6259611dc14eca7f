#!/usr/bin/env bash
# The committed scaling study: five VAR sizes (depths 1-5, width 64·depth) on Fashion-MNIST token maps
# of the default model's tokenizer, the same budget of 768 images each, and depth 6 held out of the fit.
# One wasm thread. Run again to resume (finished runs are read from runs/d*/run.json).
set -euo pipefail
cd "$(dirname "$0")/../../.."
node packages/cli/dist/bin.js scaling --data "${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}" \
  --vqvae packages/model-fashion-mnist/weights/vae.safetensors \
  --depths 1,2,3,4,5 --holdout-depth 6 --images 768 --batch 16 --lr 1e-3 \
  --limit 4096 --test-limit 500 --checkpoint-every 16 --threads 1 \
  --title "VAR on Fashion-MNIST" --out packages/train/scaling-study
