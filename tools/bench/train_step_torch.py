#!/usr/bin/python3
"""Time one training step (forward, backward, clip_grad_norm_(2.0), AdamW) in
PyTorch for the configurations of `nextscale bench --train`, and print one
JSON object with the same keys (images_per_second, step_ms, peak_rss_mb,
machine, backend).

The models are the official code of FoundationVision/VAR, imported at run
time from a checkout given with --var-repo (`git -C <mirror> archive HEAD | tar -x`):
  var    models.var.VAR on a test-mode models.vqvae.VQVAE (as build_vae_var;
         heads = width/64, attn_l2_norm=True, shared_aln=False, no drop
         path and no class dropout, as the TypeScript bench runs it), with
         the loss of trainer.py (cross-entropy, label smoothing 0.1, each
         token weighted 1/L, summed, batch mean);
  vqvae  models.vqvae.VQVAE with its Encoder/Decoder rebuilt on --ch-mult
         (the official class fixes ch_mult=(1,1,2,2,4)), loss = mse(rec, img)
         + vq_loss (VQVAE.forward; the official compound loss adds LPIPS and a
         GAN term that the repository does not ship).
AdamW: torch.optim.AdamW(betas (0.9, 0.95), eps 1e-8, weight decay 0.05 on
weights of rank > 1, 0 on the rest), lr 1e-4.

  /usr/bin/python3 tools/bench/train_step_torch.py --var-repo DIR --train var \\
      --depth 4 --width 256 --vocab 512 --cvae 16 --patch-nums 1,2,3,4 --batch 32 --threads 2
"""
import argparse
import json
import os
import platform
import resource
import sys
import time
import types


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--var-repo", required=True)
    ap.add_argument("--train", choices=["var", "vqvae"], required=True)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--cvae", type=int, default=16)
    ap.add_argument("--z", type=int, default=16)
    ap.add_argument("--ch", type=int, default=32)
    ap.add_argument("--ch-mult", default="1,2,2")
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--patch-nums", default="1,2,3,4")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sys.path.insert(0, a.var_repo)
    # models/var.py imports huggingface_hub for its VARHF wrapper only
    if "huggingface_hub" not in sys.modules:
        try:
            import huggingface_hub  # noqa: F401
        except ImportError:
            stub = types.ModuleType("huggingface_hub")
            stub.PyTorchModelHubMixin = type("PyTorchModelHubMixin", (), {"__init_subclass__": classmethod(lambda cls, **kw: None)})
            sys.modules["huggingface_hub"] = stub
    # quant.py asks torch.distributed for the world size (usage statistics) without a process group: one process
    import torch.distributed as tdist
    if not tdist.is_initialized():
        tdist.get_world_size = lambda *args, **kw: 1
    from models.basic_vae import Decoder, Encoder
    from models.var import VAR
    from models.vqvae import VQVAE

    patch_nums = tuple(int(p) for p in a.patch_nums.split(","))
    B = a.batch
    if a.train == "var":
        vae = VQVAE(vocab_size=a.vocab, z_channels=a.cvae, ch=32, test_mode=True, v_patch_nums=patch_nums)
        model = VAR(
            vae_local=vae, num_classes=1000, depth=a.depth, embed_dim=a.width, num_heads=a.width // 64,
            drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0, norm_eps=1e-6, shared_aln=False,
            cond_drop_rate=0.0, attn_l2_norm=True, patch_nums=patch_nums,
            flash_if_available=False, fused_if_available=False,
        )
        model.init_weights(init_adaln=0.5, init_adaln_gamma=1e-5, init_head=0.02, init_std=-1)
        L = sum(p * p for p in patch_nums)
        labels = torch.randint(0, 1000, (B,))
        x = torch.randn(B, L - patch_nums[0] ** 2, a.cvae)
        targets = torch.randint(0, a.vocab, (B, L))
        ce = torch.nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none")
        weight = torch.full((1, L), 1.0 / L)

        def loss_fn():
            logits = model(labels, x)
            return ce(logits.view(-1, a.vocab), targets.view(-1)).view(B, -1).mul(weight).sum(-1).mean()
        config = dict(depth=a.depth, width=a.width, vocab=a.vocab, cvae=a.cvae, patch_nums=list(patch_nums), batch=B)
    else:
        ch_mult = tuple(int(m) for m in a.ch_mult.split(","))
        model = VQVAE(vocab_size=a.vocab, z_channels=a.z, ch=a.ch, test_mode=False, v_patch_nums=patch_nums)
        dd = dict(dropout=0.0, ch=a.ch, z_channels=a.z, in_channels=3, ch_mult=ch_mult, num_res_blocks=2, using_sa=True, using_mid_sa=True)
        model.encoder = Encoder(double_z=False, **dd)
        model.decoder = Decoder(**dd)
        model.downsample = 2 ** (len(ch_mult) - 1)
        model.train()
        img = torch.rand(B, 3, a.image, a.image) * 2 - 1

        def loss_fn():
            rec, _, vq_loss = model(img)
            return F.mse_loss(rec, img) + vq_loss
        config = dict(ch=a.ch, ch_mult=list(ch_mult), image=a.image, vocab=a.vocab, z=a.z, patch_nums=list(patch_nums), batch=B)

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.95), eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 2.0)
        opt.step()
        return float(loss)

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    step_ms = times[len(times) // 2]
    print(json.dumps({
        "train": a.train,
        "config": config,
        "images_per_second": B / (step_ms / 1000),
        "step_ms": step_ms,
        "step_ms_all": times,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in params),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "backend": {"name": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads()},
        "optimizer": "torch.optim.AdamW + clip_grad_norm_(2.0)",
        "models": "official FoundationVision/VAR code from " + a.var_repo,
    }))


if __name__ == "__main__":
    main()
