"""
d16 generation with the official FoundationVision/VAR code, timed as
`nextscale bench --preset d16 --random-weights` times ours: random weights
(the cost does not depend on the values), cfg 1.5, top-k 900, top-p 0.96,
no smoothing, the VQ-VAE decode included, eager float32 on the CPU
(or on a GPU with --device cuda, TF32 off).

The official code is imported from a checkout given with --var-repo
(`git -C <mirror> archive HEAD | tar -x`). Prints one JSON object:
seconds_per_image is the median of the warm runs 2…N (the first, cold, run
is first_run). tools/bench/generate-vs-torch.mjs runs it beside ours.

  /usr/bin/python3 tools/bench/generate_torch.py --var-repo DIR [--batch 1] [--repeats 3] [--threads 2]
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import types


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--var-repo", required=True)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (eager float32; TF32 off)")
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    if a.device.startswith("cuda"):
        # float32 as ours: no TF32 in matmul or cuDNN convolutions
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
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
    import torch.distributed as tdist
    if not tdist.is_initialized():
        tdist.get_world_size = lambda *args, **kw: 1
    from models import build_vae_var

    vae, var = build_vae_var(device=a.device, depth=a.depth, shared_aln=False, attn_l2_norm=True,
                             flash_if_available=False, fused_if_available=False)
    # build_vae_var skips the VQ-VAE's initialisation (the official weights are loaded next): random values instead
    with torch.no_grad():
        for p in vae.parameters():
            p.normal_(0, 0.02)
    vae.eval()
    var.eval()
    labels = torch.randint(0, 1000, (a.batch,)).to(a.device)
    sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)
    times = []
    with torch.inference_mode():
        for i in range(a.repeats):
            t0 = time.perf_counter()
            img = var.autoregressive_infer_cfg(B=a.batch, label_B=labels, g_seed=a.seed + i, cfg=1.5, top_k=900, top_p=0.96, more_smooth=False)
            sync()
            times.append(time.perf_counter() - t0)
            assert img.shape == (a.batch, 3, 256, 256)
    warm = times[1:] or times
    print(json.dumps({
        "impl": "official FoundationVision/VAR (PyTorch eager float32)",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "depth": a.depth,
        "batch": a.batch,
        "first_run": times[0] / a.batch,
        "seconds_per_image": statistics.median(warm) / a.batch,
        "runs_s": times,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": platform.processor() or platform.machine(),
        "device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu",
    }))


if __name__ == "__main__":
    main()
