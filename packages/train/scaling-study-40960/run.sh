#!/usr/bin/env bash
# The committed scaling study: five VAR sizes (depths 1-5, width 64·depth) on Fashion-MNIST token maps
# of the default model's second tokenizer (stage 1c, packages/model-fashion-mnist/training/tokenizer3),
# the same budget of 40960 images each (1280 steps of 32 from the first 16384 training images: five times the first study's, packages/train/scaling-study), and
# depth 6 held out of the fit. The native backend (2 threads). Run again to resume (finished runs are
# read from runs/d*/run.json, an unfinished one from its checkpoint).
set -euo pipefail
cd "$(dirname "$0")/../../.."
node packages/cli/dist/bin.js scaling --data "${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}" \
  --vqvae packages/model-fashion-mnist/training/tokenizer3/vqvae.safetensors \
  --depths 1,2,3,4,5 --holdout-depth 6 --images 40960 --batch 32 --lr 1e-3 \
  --limit 16384 --test-limit 1000 --checkpoint-every 64 --backend native \
  --title "VAR on Fashion-MNIST" --out packages/train/scaling-study-40960
