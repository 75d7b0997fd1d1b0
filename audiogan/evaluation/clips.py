"""Clip-level figures: how long each clip sounds, and how whole clips compare with real ones.

Frame and window distances judge a clip in pieces, so a generator that makes an endless texture
cut to length can score well on them. These judge each clip whole:

* the **non-silent length** of a clip: from its first to its last frame within ``SILENCE_DB`` of
  its loudest frame (the rule of ``librosa.effects.split`` and of ``generate --trim-silence``),
  in seconds; reported as the mean over a set and as the 1-Wasserstein distance (in seconds)
  between a set's lengths and the reference's;
* a **clip Fréchet distance**: the Fréchet distance between the Gaussians fitted to the per-clip
  statistics of two sets (each clip's per-bin mean and spread of normalised log-mel,
  :func:`audiogan.evaluation.metrics.clip_statistics`, the descriptor coverage uses).

Sequences are ``(T, M)`` normalised log-mel in the run's scale (the evaluator's features).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audiogan.config import FeatureConfig
from audiogan.data.trim import SILENCE_DB, denormalise, loud_span
from audiogan.evaluation import metrics

__all__ = ["SILENCE_DB", "clip_fd", "clip_scores", "nonsilent_seconds", "wasserstein_1d"]


def nonsilent_seconds(sequence: np.ndarray, fc: FeatureConfig, top_db: float = SILENCE_DB) -> float:
    """Seconds from the first to the last frame of ``sequence (T, M)`` within ``top_db`` dB of its
    loudest frame (0 for an empty or all-silent clip): :func:`audiogan.data.trim.loud_span`."""
    x = np.asarray(sequence, dtype=np.float64)
    if x.size == 0:
        return 0.0
    start, stop = loud_span(denormalise(x, fc), top_db)
    return float((stop - start) * fc.hop_length / fc.sample_rate)


def wasserstein_1d(a: Sequence[float], b: Sequence[float], points: int = 1000) -> float:
    """1-Wasserstein distance between the empirical distributions of ``a`` and ``b``: the mean
    absolute difference of their quantile functions (exact for equal sizes; sampled on
    ``points`` quantiles otherwise)."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return float("nan")
    if a.size == b.size:
        return float(np.abs(a - b).mean())
    q = (np.arange(points) + 0.5) / points
    return float(np.abs(np.quantile(a, q) - np.quantile(b, q)).mean())


def clip_fd(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    """Fréchet distance between the per-clip statistics of two sets of sequences."""
    x, y = metrics.clip_statistics(reference), metrics.clip_statistics(candidate)
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    return metrics.frechet_distance(x, y)


def clip_scores(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], fc: FeatureConfig
) -> dict[str, float]:
    """``{"length_mean", "length_w1", "clip_fd"}`` of ``candidate`` against ``reference`` (seconds,
    seconds, and the Fréchet distance of per-clip statistics)."""
    lengths = [nonsilent_seconds(s, fc) for s in candidate]
    real = [nonsilent_seconds(s, fc) for s in reference]
    return {
        "length_mean": float(np.mean(lengths)) if lengths else float("nan"),
        "length_w1": wasserstein_1d(lengths, real),
        "clip_fd": clip_fd(reference, candidate),
    }
