"""R1 and WGAN-GP through the built-in recurrent discriminators on CUDA (run by gpu_check.sh).

cuDNN's fused RNN kernels have no double backward, and both penalties differentiate D's gradient
with respect to its input. ``audiogan.training.objectives`` computes that gradient with cuDNN
switched off (the native kernels support double backward). This script checks, for the lstm and
gru discriminators in bf16 autocast, that a full D update with each penalty runs, gives finite
gradients for every weight, and that the same computation with cuDNN left on fails the way the
code says it would (so the guard is needed, not decoration). Prints one line per case.

    python -m benchmarks.gpu_penalties            # needs a CUDA device
"""

from __future__ import annotations

import sys
import time

import torch

from audiogan.config import FeatureConfig
from audiogan.plugins import get_registry
from audiogan.training import objectives


def main() -> int:
    """Every (discriminator, penalty) case on the GPU; exit 1 if any fails."""
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    fc = FeatureConfig(mel_mean=[-5.0] * 80, mel_std=[2.0] * 80)
    registry = get_registry()
    failures = 0
    for name in ("lstm", "gru"):
        d = registry.build("discriminator", name, {}, fc, 10).to(device)
        labels = torch.randint(10, (32,), device=device)
        real = torch.randn(32, 64, 80, device=device)
        fake = torch.randn(32, 64, 80, device=device)

        def score(x: torch.Tensor, d=d, labels=labels) -> torch.Tensor:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return objectives.sequence_scores(d(x, labels)[0])

        for penalty in ("r1", "wgan-gp"):
            d.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            started = time.perf_counter()
            try:
                value = (
                    objectives.r1_penalty(score, real)
                    if penalty == "r1"
                    else objectives.gradient_penalty(score, real, fake)
                )
                (score(real).mean() + 10.0 * value).backward()
                torch.cuda.synchronize()
                grads = [p.grad for p in d.parameters() if p.requires_grad]
                ok = all(g is not None and torch.isfinite(g).all() for g in grads)
                took = 1000 * (time.perf_counter() - started)
                print(
                    f"{name} {penalty}: {'ok' if ok else 'NON-FINITE OR MISSING GRADIENTS'} "
                    f"(penalty {float(value.detach()):.4g}, {took:.1f} ms with cuDNN off for the penalty)"
                )
                failures += not ok
            except Exception as exc:  # the point of the script is to report, not to stop
                print(f"{name} {penalty}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0]}")
                failures += 1
        # The same double backward with cuDNN left on: expected to fail on cuDNN RNNs.
        try:
            x = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(score(x).sum(), x, create_graph=True)
            grad.pow(2).sum().backward()
            print(f"{name} with cuDNN on: double backward ran (this torch/cuDNN supports it)")
        except RuntimeError as exc:
            print(f"{name} with cuDNN on: fails as expected ({str(exc).splitlines()[0][:120]})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
