#!/usr/bin/env bash
# How the bundled Fashion-MNIST model is trained: stage 1 (VQ-VAE), then stage 2 (VAR),
# with the nextscale CLI on Debian's dataset-fashion-mnist. Each stage resumes from its
# folder's latest checkpoint when run again (the checkpoints are committed as it goes).
# Stage 3 fine-tunes the VQ-VAE's decoder alone with the VQGAN discriminator: the encoder and
# codebook stay, so stage 2's VAR (trained on stage 1's tokens) still fits.
# Stages 1b and 1c (2026-12-04, the second tokenizer, not yet behind the shipped weights) continue
# stage 1's VQ-VAE as a whole (encoder, codebook and decoder; the token maps change, so the VAR
# must be trained again on them).
# Usage: bash packages/model-fashion-mnist/training/train.sh [vqvae|var|decoder|tokenizer2|tokenizer3|var3|decoder3|tokenizer4|all]
#   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../../.."
DATA=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
RUN=packages/model-fashion-mnist/training
CLI="node packages/cli/dist/bin.js"
stage=${1:-all}

if [ "$stage" = vqvae ] || [ "$stage" = all ]; then
  $CLI train vqvae --data "$DATA" --out "$RUN/vqvae" \
    --image 28 --ch 32 --ch-mult 1,2,2 --res-blocks 1 --no-attn --vocab 512 --z 16 --patch-nums 1,2,3,4,5,6,7 \
    --batch 32 --steps 2000 --lr 5e-4 --l1 0.2 --seed 0 \
    --checkpoint-every 50 --keep 1 --sample-every 250
fi
if [ "$stage" = var ] || [ "$stage" = all ]; then
  $CLI train var --data "$DATA" --vqvae "$RUN/vqvae/vqvae.safetensors" --out "$RUN/var" \
    --depth 3 --batch 64 --epochs 4 --lr 8e-4 --seed 0 \
    --checkpoint-every 100 --keep 1 --sample-every 500
fi
if [ "$stage" = decoder ] || [ "$stage" = all ]; then
  $CLI train vqvae --data "$DATA" --init "$RUN/vqvae/vqvae.safetensors" --decoder-only --out "$RUN/decoder" \
    --gan --batch 32 --steps 1500 --lr 2e-4 --l1 0.2 --seed 1 \
    --checkpoint-every 100 --keep 1 --sample-every 250
fi
# stage 1b: run with --gan --gan-start 3000 --steps 6000 and stopped with Ctrl-C at step 2994, before
# the discriminator starts (so: no GAN); its model written from that checkpoint
if [ "$stage" = tokenizer2 ]; then
  $CLI train vqvae --data "$DATA" --init "$RUN/vqvae/vqvae.safetensors" --out "$RUN/tokenizer2" \
    --gan --gan-start 3000 --batch 32 --steps 6000 --lr 2e-4 --l1 0.2 --seed 2 \
    --checkpoint-every 100 --keep 1 --sample-every 500 --backend native
  node "$RUN/checkpoint-to-vqvae.mjs" "$RUN/tokenizer2/ckpt-00002994.safetensors" "$RUN/tokenizer2/vqvae.safetensors"
fi
# stage 1c: 8000 more steps from stage 1b's model (a fresh optimizer)
if [ "$stage" = tokenizer3 ]; then
  $CLI train vqvae --data "$DATA" --init "$RUN/tokenizer2/vqvae.safetensors" --out "$RUN/tokenizer3" \
    --batch 32 --steps 8000 --lr 2e-4 --l1 0.2 --seed 3 \
    --checkpoint-every 100 --keep 1 --sample-every 1000 --backend native
fi
# stage 2c: a deeper VAR on stage 1c's token maps (started 2026-12-04; resumes from its folder)
if [ "$stage" = var3 ]; then
  $CLI train var --data "$DATA" --vqvae "$RUN/tokenizer3/vqvae.safetensors" --out "$RUN/var3" \
    --depth 6 --width 256 --heads 4 --batch 64 --epochs 12 --lr 6e-4 --seed 4 \
    --checkpoint-every 100 --keep 1 --sample-every 1000 --backend native
fi
# stage 3c: stage 1c's decoder alone with the VQGAN discriminator (as stage 3 for stage 1): the encoder
# and codebook stay, so stage 2c's token maps and VAR are unchanged
if [ "$stage" = decoder3 ]; then
  $CLI train vqvae --data "$DATA" --init "$RUN/tokenizer3/vqvae.safetensors" --decoder-only --out "$RUN/decoder3" \
    --gan --batch 32 --steps 1500 --lr 2e-4 --l1 0.2 --seed 5 \
    --checkpoint-every 100 --keep 1 --sample-every 500 --backend native
fi
# stage 1d (planned 2026-12-07, not yet run): stage 1c's VQ-VAE trained further with the prefix loss on its
# first three scales (1x1, 2x2, 3x3: what they alone decode to, against the image at 4, 8, 12 px), so that
# the coarse scales, whose tokens a VAR draws independently, carry more of the image (the model card's
# "Where the FID is lost"); a VAR must then be trained on its token maps
if [ "$stage" = tokenizer4 ]; then
  $CLI train vqvae --data "$DATA" --init "$RUN/tokenizer3/vqvae.safetensors" --out "$RUN/tokenizer4" \
    --batch 32 --steps 4000 --lr 2e-4 --l1 0.2 --prefix-scales 3 --prefix-weight 1 --seed 6 \
    --checkpoint-every 100 --keep 1 --sample-every 1000 --backend native
fi
