"""The in-training evaluator: a window Fréchet distance of the EMA generator every ``eval_every`` steps,
and its within-class diversity beside the real clips' (a collapse alarm the distance can miss).

Cheap enough to run inside the training loop (the generator's own normalised frames, no vocoder,
a fixed sample of real clips), so the loop can keep the best generator as ``checkpoints/best.pt``.
``audiogan evaluate`` (:mod:`audiogan.evaluation.evaluate`) is the full, audio-level judgement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from audiogan.config import FeatureConfig
from audiogan.data.whole import bound_frames, sound_frames
from audiogan.evaluation import metrics
from audiogan.evaluation.clips import clip_scores

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet
    from audiogan.data.whole import WholeSounds

__all__ = ["MelPool", "TrainingEvaluator", "evaluate_during_training", "training_evaluator"]

#: Mel bands a linear layout's frames are pooled into before the held-out distance.
POOL_BANDS = 64


class MelPool:
    """Normalised frames of a ``scale = "linear"`` layout -> normalised log-mel of :data:`POOL_BANDS`
    HTK bands, standardised per band by the real clips' pooled statistics.

    Why: the window distance PCA-projects whole windows, and hundreds of fine linear bins let
    frame-to-frame detail within a harmonic decide it; a mel run's figure is dominated by the
    spectral envelope. On FSDD the unpooled figure picked an early best.pt (step 6,000) whose
    clips a classifier recognised less than the mel run's (benchmarks/RESULTS.md, "scale").
    """

    def __init__(self, fc: FeatureConfig, real: list[np.ndarray]) -> None:
        import dataclasses

        from audiogan.features import MelFrontEnd

        first, stop = fc.linear_bins
        mel_layout = dataclasses.replace(fc, scale="mel", n_mels=POOL_BANDS, mel_mean=None, mel_std=None)
        basis = MelFrontEnd(mel_layout).mel.mel_scale.fb[first:stop]  # the front end's own mel bands
        keep = basis.sum(0) > 0  # bands with no bin of this layout would be constant
        self.basis = basis[:, keep].numpy().astype(np.float64)
        self.mean = np.asarray(fc.mel_mean, dtype=np.float64)
        self.scale = fc.norm_scale * np.asarray(fc.mel_std, dtype=np.float64)
        self.floor = float(fc.log_floor)
        self.norm_scale = float(fc.norm_scale)
        pooled = np.concatenate([self._log_mel(x) for x in real])
        self.pool_mean, self.pool_std = pooled.mean(0), pooled.std(0) + 1e-6

    def _log_mel(self, x: np.ndarray) -> np.ndarray:
        magnitude = np.exp(np.asarray(x, dtype=np.float64) * self.scale + self.mean)
        return np.log(np.maximum(magnitude @ self.basis, self.floor))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(T, F)`` normalised linear frames -> ``(T, bands)`` float32."""
        return ((self._log_mel(x) - self.pool_mean) / (self.norm_scale * self.pool_std)).astype(np.float32)


class TrainingEvaluator(metrics.WindowFD):
    """A :class:`~audiogan.evaluation.metrics.WindowFD` that also knows each real clip's label, for
    within-class diversity: the mean distance between :func:`~audiogan.evaluation.metrics.clip_embeddings`
    of clips of one class (standardised by the real clips' statistics), averaged over classes.

    ``labels`` are class indices (-1: unlabelled, one group). ``diversity_within`` is the real
    clips' own figure, the floor a healthy generator's should come near. ``whole`` is the run's
    whole-sound layout (None in crop mode): generated clips are then a canvas long, each cut where
    its own sound ends, as ``generate`` cuts them.
    """

    whole: WholeSounds | None = None
    #: Linear layouts: frames pass through this :class:`MelPool` before the distances.
    pool: MelPool | None = None

    def __init__(
        self,
        real_sequences: list[np.ndarray],
        labels: np.ndarray,
        k: int = 8,
        pca_dim: int = 64,
        feature_config: FeatureConfig | None = None,
    ) -> None:
        super().__init__(real_sequences, k=k, pca_dim=pca_dim)
        self.labels = np.asarray(labels, dtype=np.int64)
        # with the run's FeatureConfig (its statistics) the clip-level figures are scored too
        self.feature_config = (
            feature_config if feature_config is not None and feature_config.has_stats else None
        )
        self.real_sequences = list(real_sequences)
        embeddings = metrics.clip_embeddings(real_sequences)
        self.mean, self.std = embeddings.mean(0), embeddings.std(0) + 1e-6
        self.diversity_within, _ = metrics.diversity_within(self.standardise(embeddings), self.labels)

    def standardise(self, embeddings: np.ndarray) -> np.ndarray:
        """Clip embeddings in the real clips' standard scale (every set measured with one ruler)."""
        return (np.asarray(embeddings, dtype=np.float64) - self.mean) / self.std

    def collapse_scores(self, sequences: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
        """``{"diversity_within", "diversity_within_real", "diversity_within_ratio"}`` of ``sequences``
        with class indices ``labels``; a figure that cannot be computed (one clip per class) is left out."""
        within, _ = metrics.diversity_within(
            self.standardise(metrics.clip_embeddings(sequences)), np.asarray(labels, dtype=np.int64)
        )
        out = {"diversity_within": within, "diversity_within_real": self.diversity_within}
        if np.isfinite(within) and np.isfinite(self.diversity_within) and self.diversity_within > 0:
            out["diversity_within_ratio"] = within / self.diversity_within
        return {key: float(value) for key, value in out.items() if np.isfinite(value)}


def training_evaluator(
    dataset: FeatureSet,
    max_clips: int = 256,
    k: int = 8,
    pca_dim: int = 64,
    seed: int = 0,
    indices: np.ndarray | None = None,
    whole: WholeSounds | None = None,
) -> TrainingEvaluator:
    """A :class:`TrainingEvaluator` on up to ``max_clips`` clips of a FeatureSet (with their labels), for
    the training loop's periodic evaluation (generated frames are already in the same normalised scale).

    ``indices`` limits the choice to those clips (the held-out slice, :mod:`audiogan.data.holdout`);
    by default any clip of the set may be chosen. With ``whole`` (a whole-sound run) the real clips
    are their trimmed sounds, as training sees them."""
    pool = np.arange(len(dataset)) if indices is None or not len(indices) else np.asarray(indices)
    if whole is not None:
        kept = np.setdiff1d(pool, whole.too_short())
        pool = kept if kept.size else pool
    index = pool[np.random.default_rng(seed).permutation(len(pool))[:max_clips]]
    if whole is not None:
        real = [whole.sound(dataset, int(i)) for i in index]
    else:
        real = [np.asarray(dataset.clip(int(i))) for i in index]
    fc = dataset.feature_config
    pool = MelPool(fc, real) if fc is not None and fc.scale == "linear" and fc.has_stats else None
    evaluator = TrainingEvaluator(
        [pool(x) for x in real] if pool is not None else real,
        np.asarray(dataset.labels)[index],
        k=k,
        pca_dim=pca_dim,
        feature_config=fc,
    )
    evaluator.whole, evaluator.pool = whole, pool
    evaluator.real_sequences = real  # the clip-level figures (lengths) read the run's own frames
    return evaluator


def evaluate_during_training(
    generator: torch.nn.Module,
    evaluator: metrics.WindowFD,
    num_clips: int = 64,
    n_frames: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """``{"frame_fd", "window_fd"}`` of ``num_clips`` sequences from ``generator`` (e.g. the EMA copy),
    plus ``diversity_within`` (generated clips of each class), ``diversity_within_real`` (the real
    clips') and their ``diversity_within_ratio`` when ``evaluator`` is a :class:`TrainingEvaluator`.

    Fixed latents (``seed``) so successive evaluations differ only by the weights; labels cycle
    through the classes of a conditional generator. Torch's global RNG (the generator's per-frame
    noise) is forked, so evaluating does not change what training draws next (exact resume).
    ``n_frames`` defaults to the median real clip length of ``evaluator``, or for a whole-sound
    evaluator the canvas, each clip then cut where its sound ends (:func:`audiogan.data.whole.sound_frames`).
    With the run's FeatureConfig the clip-level figures (``length_mean``, ``length_w1``, ``clip_fd``)
    are added.
    """
    device = next(generator.parameters()).device
    whole = getattr(evaluator, "whole", None)
    if whole is not None:
        n_frames = n_frames or whole.canvas
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
            if whole is not None:  # within the real frames' bounds, as training and generate see them
                frames = bound_frames(frames, *whole.bounds())
    finally:
        generator.train(was_training)
    sequences = list(frames.float().cpu().numpy())
    fc = getattr(evaluator, "feature_config", None)
    if whole is not None and fc is not None:
        record = {"trim_db": whole.trim_db, "pad_frames": whole.pad_frames}
        sequences = [seq[: sound_frames(seq, fc, record, at_least=evaluator.k)] for seq in sequences]
    pool = getattr(evaluator, "pool", None)
    compared = [pool(seq) for seq in sequences] if pool is not None else sequences
    scores = evaluator.scores(compared)
    if isinstance(evaluator, TrainingEvaluator):
        classes = labels.cpu().numpy() if labels is not None else np.full(num_clips, -1)
        scores.update(evaluator.collapse_scores(compared, classes))
        if evaluator.feature_config is not None:
            clip = clip_scores(evaluator.real_sequences, sequences, evaluator.feature_config)
            scores.update({key: value for key, value in clip.items() if np.isfinite(value)})
    return scores
