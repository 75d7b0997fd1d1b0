"""Where a sound is in its frames: one rule for trimming training clips, ending generated ones
and measuring both.

A frame is *loud* when its mel power is within ``top_db`` dB of the clip's loudest frame (the rule
of ``librosa.effects.split``); a clip's sound runs from its first loud frame to its last.
"""

from __future__ import annotations

import numpy as np

from audiogan.config import FeatureConfig

__all__ = ["SILENCE_DB", "denormalise", "loud_span", "normalise"]

#: Frames this far below a clip's loudest frame are silence (librosa.effects.split's default top_db).
SILENCE_DB = 40.0
_ROWS = 4096  # frames per block when summing power (bounded memory for any length)


def loud_span(log_mel: np.ndarray, top_db: float = SILENCE_DB) -> tuple[int, int]:
    """``(start, stop)``: the frames ``[start, stop)`` of ``log_mel (T, M)`` (natural-log mel
    magnitude) from the first to the last frame within ``top_db`` dB of the loudest; ``(0, 0)``
    for an empty or all-silent clip."""
    x = np.asarray(log_mel)
    if x.size == 0:
        return 0, 0
    # Per-frame power in row blocks: a whole float64 copy of an hour-long take's frames (and its
    # exp) would be ~290 MB, more than the rest of `prepare` needs for any length.
    power = np.empty(x.shape[0], dtype=np.float64)
    for start in range(0, x.shape[0], _ROWS):
        block = np.asarray(x[start : start + _ROWS], dtype=np.float64)
        power[start : start + _ROWS] = np.exp(2.0 * block).sum(axis=1)
    peak = float(power.max())
    if not peak > 0:
        return 0, 0
    loud = np.flatnonzero(10.0 * np.log10(np.maximum(power, 1e-300) / peak) >= -abs(top_db))
    return int(loud[0]), int(loud[-1]) + 1


def denormalise(sequence: np.ndarray, fc: FeatureConfig) -> np.ndarray:
    """Normalised frames ``(T, M)`` back to natural-log mel magnitude with ``fc``'s statistics."""
    scale = fc.norm_scale * np.asarray(fc.mel_std, dtype=np.float64)
    return np.asarray(sequence, dtype=np.float64) * scale + np.asarray(fc.mel_mean, dtype=np.float64)


def normalise(log_mel: np.ndarray, fc: FeatureConfig) -> np.ndarray:
    """Natural-log mel ``(..., M)`` to ``fc``'s normalised scale (the inverse of :func:`denormalise`)."""
    scale = fc.norm_scale * np.asarray(fc.mel_std, dtype=np.float64)
    return (np.asarray(log_mel, dtype=np.float64) - np.asarray(fc.mel_mean, dtype=np.float64)) / scale
