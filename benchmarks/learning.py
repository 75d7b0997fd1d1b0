"""Learning, not just running: window Frechet distance of generated vs real mel sequences.

    python -m benchmarks.learning [--minutes 8] [--set section.key=value ...] [--per-class 24]

Writes the synthetic labelled corpus (pluck / chirp / drums, 1 s clips), trains the demo's model
(:func:`audiogan.commands.demo.demo_config`) for a fixed wall-clock budget on the CPU, then
compares the EMA generator against an untrained generator of the same architecture (same seed)
by the Frechet distance between Gaussian fits of windows of 8 consecutive normalised mel frames
(flattened, PCA to 64 dims fitted on the real windows: :class:`audiogan.evaluation.metrics.WindowFD`).
Single-frame FD is printed too, but windows are the point: an i.i.d. frame model can match single
frames. As a reference, the i.i.d. Gaussian frame model fitted to the real frames is scored too.
The CPU may be shared: the steps reached are printed with the budget.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audiogan.checkpoint import load_generator
from audiogan.commands.demo import demo_config
from audiogan.data.dataset import load_dataset
from audiogan.data.synthetic import write_corpus
from audiogan.evaluation.metrics import WindowFD
from audiogan.plugins import get_registry
from audiogan.training.loop import train


@torch.no_grad()
def generate(
    model: torch.nn.Module, num_classes: int, per_class: int, n_frames: int, seed: int
) -> list[np.ndarray]:
    """``per_class`` sequences of ``n_frames`` for every class (or in total when unlabelled)."""
    torch.manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class) if num_classes else None
    count = num_classes * per_class if num_classes else per_class
    frames, _ = model(torch.randn(count, model.latent_dim), labels, n_frames)
    return list(frames.float().numpy())


def main(argv: list[str] | None = None) -> int:
    """Train for the budget and print before/after window FD."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=8.0, help="CPU training budget (wall clock)")
    parser.add_argument("--per-class", type=int, default=24, help="synthetic clips per class")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--keep", type=Path, help="keep the corpus and run folder here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.keep or Path(tempfile.mkdtemp(prefix="audiogan-learning-"))
    corpus = write_corpus(work / "corpus", per_class=args.per_class, seconds=1.0, seed=0)
    config = demo_config(steps=10**9, minutes=args.minutes)
    started = time.perf_counter()
    result = train(
        corpus, work / "run", config, overrides=['train.device="cpu"', *args.overrides], progress=False
    )
    seconds = time.perf_counter() - started

    dataset = load_dataset(corpus, progress=False, feature_config=load_generator(work / "run").feature_config)
    real = [dataset.clip(i) for i in range(len(dataset))]
    n_frames = int(np.median([len(c) for c in real]))
    fd = WindowFD(real, k=8, pca_dim=64)
    trained = load_generator(work / "run")
    registry = get_registry()
    torch.manual_seed(0)
    untrained = registry.build(
        "generator",
        trained.meta["name"],
        trained.meta["config"],
        trained.feature_config,
        len(trained.class_names),
    ).eval()
    n = dataset.num_classes
    per = max(8, len(real) // max(n, 1))
    rows = [
        ("untrained generator", fd.scores(generate(untrained, n, per, n_frames, 1))),
        (f"trained, step {result.step}", fd.scores(generate(trained.model, n, per, n_frames, 1))),
    ]
    frames = np.concatenate(real)
    mean, cov = frames.mean(0), np.cov(frames, rowvar=False)
    rng = np.random.default_rng(0)
    iid = [rng.multivariate_normal(mean, cov, size=n_frames).astype(np.float32) for _ in range(n * per)]
    rows.append(("i.i.d. Gaussian frames (reference)", fd.scores(iid)))
    # real half vs the other real half: the estimator's floor at this sample size
    rows.append(("real clips, half vs half (floor)", WindowFD(real[::2], k=8, pca_dim=64).scores(real[1::2])))
    print(
        f"corpus: {len(real)} clips x {n_frames} frames, {n} classes, {dataset.feature_config.n_mels} mels; "
        f"budget {args.minutes:g} min, trained {result.step} steps in {seconds:.0f} s "
        f"({result.step / seconds:.1f} steps/s incl. start-up; shared CPU)"
    )
    print(f"config: {' '.join(args.overrides) or 'demo defaults'}")
    print()
    print("| generator | window FD (8 frames) | frame FD |")
    print("|---|---:|---:|")
    for name, scores in rows:
        print(f"| {name} | {scores['window_fd']:.1f} | {scores['frame_fd']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
