"""The in-training evaluator: a window Fréchet distance of the EMA generator every ``eval_every`` steps.

Cheap enough to run inside the training loop (the generator's own normalised frames, no vocoder,
a fixed sample of real clips), so the loop can keep the best generator as ``checkpoints/best.pt``.
``audiogan evaluate`` (:mod:`audiogan.evaluation.evaluate`) is the full, audio-level judgement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from audiogan.evaluation import metrics

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet

__all__ = ["evaluate_during_training", "training_evaluator"]


def training_evaluator(
    dataset: FeatureSet, max_clips: int = 256, k: int = 8, pca_dim: int = 64, seed: int = 0
) -> metrics.WindowFD:
    """A :class:`~audiogan.evaluation.metrics.WindowFD` on up to ``max_clips`` clips of a FeatureSet, for the
    training loop's periodic evaluation (generated frames are already in the same normalised scale)."""
    index = np.random.default_rng(seed).permutation(len(dataset))[:max_clips]
    return metrics.WindowFD([np.asarray(dataset.clip(int(i))) for i in index], k=k, pca_dim=pca_dim)


def evaluate_during_training(
    generator: torch.nn.Module,
    evaluator: metrics.WindowFD,
    num_clips: int = 64,
    n_frames: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """``{"frame_fd", "window_fd"}`` of ``num_clips`` sequences from ``generator`` (e.g. the EMA copy).

    Fixed latents (``seed``) so successive evaluations differ only by the weights; labels cycle
    through the classes of a conditional generator. Torch's global RNG (the generator's per-frame
    noise) is forked, so evaluating does not change what training draws next (exact resume).
    ``n_frames`` defaults to the median real clip length of ``evaluator``.
    """
    device = next(generator.parameters()).device
    n_frames = n_frames or max(evaluator.median_frames, evaluator.k)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num_clips, generator.latent_dim, generator=g).to(device)
    labels = (torch.arange(num_clips) % generator.num_classes).to(device) if generator.num_classes else None
    was_training = generator.training
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            generator.eval()
            frames, _ = generator(z, labels, n_frames)
    finally:
        generator.train(was_training)
    return evaluator.scores(list(frames.float().cpu().numpy()))
