"""Engine overhead: median time of one training step (one D + one G update), engine vs bare PyTorch.

    python -m benchmarks.train_step [--device cpu|cuda] [--batch 32] [--frames 64] [--mels 80]
                                    [--hidden 256] [--layers 2] [--steps 30] [--threads 1]

Both sides use the same built-in LSTM generator and discriminator (same sizes) on the same random
batch, in the same process, measured in interleaved blocks so that a change in machine load hits
both alike. The bare loop is what a careful user would write by hand: hinge loss, Adam, generate
once and reuse the fake batch for the G update. The engine step adds what the product needs:
feature matching, gradient clipping, the EMA of G, on-device non-finite detection and skipping,
loss accumulators (and bf16 autocast on CUDA). Data loading, logging and checkpoints are left out.
Target (issue 4): engine / bare <= 1.10 on the CPU at batch 32, 64 frames, 80 mels, hidden 256,
2 layers. On CUDA it also reports steps/s and peak GPU memory.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from audiogan.config import FeatureConfig
from audiogan.data.dataset import Batch
from audiogan.plugins import get_registry
from audiogan.training.config import TrainConfig
from audiogan.training.trainer import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(
    args: argparse.Namespace, device: torch.device, seed: int
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The built-in LSTM G and D at the benchmark's sizes."""
    torch.manual_seed(seed)
    registry = get_registry()
    fc = FeatureConfig(n_mels=args.mels)
    g = registry.build("generator", "lstm", {"hidden_size": args.hidden, "num_layers": args.layers}, fc, 3)
    d = registry.build(
        "discriminator", "lstm", {"hidden_size": args.hidden, "num_layers": args.layers}, fc, 3
    )
    return g.to(device), d.to(device)


class Bare:
    """A hand-written GAN step with the same models: hinge loss, Adam(0.5, 0.99), TTUR."""

    def __init__(self, g: torch.nn.Module, d: torch.nn.Module, device: torch.device, amp: bool) -> None:
        self.g, self.d, self.device = g.train(), d.train(), device
        self.opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.99))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=4e-4, betas=(0.5, 0.99))
        self.amp = amp

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def step(self, batch: Batch) -> None:
        real, labels = batch.frames.to(self.device), batch.labels.to(self.device)
        z = torch.randn(real.shape[0], self.g.latent_dim, device=self.device)
        with self.autocast():
            fake, _ = self.g(z, labels, real.shape[1])
            loss_d = (
                F.relu(1 - self.d(real, labels)[0].float().mean(1)).mean()
                + F.relu(1 + self.d(fake.detach(), labels)[0].float().mean(1)).mean()
            )
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.d.requires_grad_(False)
        with self.autocast():
            loss_g = -self.d(fake, labels)[0].float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)


def main(argv: list[str] | None = None) -> int:
    """Time both loops and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--mels", type=int, default=80)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per side")
    parser.add_argument("--block", type=int, default=2, help="steps per interleaved block")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = default)")
    parser.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = device.type == "cuda" and not args.no_amp and torch.cuda.is_bf16_supported()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    gen = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randn(args.batch, args.frames, args.mels, generator=gen).clamp(-1, 1),
        torch.randint(0, 3, (args.batch,), generator=gen),
        torch.ones(args.batch, args.frames, dtype=torch.bool),
    )
    if device.type == "cuda":
        batch = Batch(batch.frames.pin_memory(), batch.labels.pin_memory(), batch.mask.pin_memory())
    engine = Trainer(
        *build(args, device, 0), TrainConfig(batch_size=args.batch, seq_frames=args.frames, amp=amp), device
    )
    bare = Bare(*build(args, device, 0), device, amp)
    sides = {"bare": bare.step, "engine": engine.step}
    for step in sides.values():  # warm-up: allocator, lazy imports, cuDNN autotuning
        for _ in range(3):
            step(batch)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: dict[str, list[float]] = {name: [] for name in sides}
    done = 0
    while done < args.steps:
        for name, step in sides.items():
            for _ in range(min(args.block, args.steps - done)):
                _sync(device)
                start = time.perf_counter()
                step(batch)
                _sync(device)
                times[name].append(time.perf_counter() - start)
        done += min(args.block, args.steps - done)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"device {device}{' (bf16 autocast)' if amp else ''}, torch threads {torch.get_num_threads()}; "
        f"batch {args.batch}, {args.frames} frames, {args.mels} mels, "
        f"LSTM hidden {args.hidden} x {args.layers} "
        f"layers (G and bidirectional D); {args.steps} timed steps per side, "
        f"interleaved blocks of {args.block}"
    )
    print()
    print("| loop | median ms/step | steps/s |")
    print("|---|---:|---:|")
    for name in sides:
        print(f"| {name} | {1000 * med[name]:.1f} | {1 / med[name]:.2f} |")
    print()
    print(f"engine / bare = {med['engine'] / med['bare']:.3f} (target <= 1.10)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
