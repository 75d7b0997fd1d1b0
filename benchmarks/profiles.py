"""Training steps/s of each device profile's models (``train.profile``), measured in one run.

    python -m benchmarks.profiles [--device cpu|cuda] [--batch 32] [--frames 24] [--mels 64]
                                  [--blocks 5] [--steps 10] [--threads 1]

The ``cpu`` profile (small GRUs) against the plugins' own defaults (the ``gpu`` profile: LSTM
256x2), each a full engine step (:class:`audiogan.training.trainer.Trainer`, one D + one G
update with the run's default objectives) on the same random batch of FSDD-sized crops
(24 frames, 64 mels). Blocks of steps alternate between the two, so a change in the machine's
load hits both alike; the figure to quote is the ratio of the medians. Result: one line each.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from audiogan.config import FeatureConfig
from audiogan.data.dataset import Batch
from audiogan.plugins import get_registry
from audiogan.training.config import resolve_with_profile
from audiogan.training.trainer import Trainer


def build(profile: str, args: argparse.Namespace, device: torch.device) -> Trainer:
    """The trainer a run with no settings of its own would get under ``profile``."""
    config = resolve_with_profile({}, [f"train.profile={profile}"], device)
    fc = FeatureConfig(n_mels=args.mels)
    registry = get_registry()
    g_name, g_cfg = config.component("generator")
    d_name, d_cfg = config.component("discriminator")
    torch.manual_seed(0)
    generator = registry.build("generator", g_name, g_cfg, fc, args.classes)
    discriminator = registry.build("discriminator", d_name, d_cfg, fc, args.classes)
    return Trainer(generator, discriminator, config.train, device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--mels", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    frames = torch.rand(args.batch, args.frames, args.mels, device=device) * 2 - 1
    labels = torch.randint(args.classes, (args.batch,), device=device)
    batch = Batch(frames, labels, torch.ones(args.batch, args.frames, dtype=torch.bool, device=device))
    trainers = {name: build(name, args, device) for name in ("cpu", "gpu")}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for trainer in trainers.values():  # warm-up
        for _ in range(3):
            trainer.step(batch)
    for _ in range(args.blocks):
        for name, trainer in trainers.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.step(batch)
            trainer.pop_metrics()  # one sync, as the loop's log step does
            times[name].append((time.perf_counter() - start) / args.steps)
    rates = {name: 1.0 / statistics.median(values) for name, values in times.items()}
    for name, trainer in trainers.items():
        params = sum(p.numel() for p in trainer.generator.parameters())
        params += sum(p.numel() for p in trainer.discriminator.parameters())
        print(f"profile {name}: {rates[name]:7.1f} steps/s  ({params:,} parameters in G + D)")
    print(f"cpu / gpu profile steps/s: {rates['cpu'] / rates['gpu']:.1f}x")


if __name__ == "__main__":
    main()
