"""A small labelled corpus made in code: plucked notes, chirps and drum-like noise bursts.

Used by ``audiogan demo`` (so the main job runs with no data of the user's) and by the tests,
which must write their own audio. Each class has a recognisable spectro-temporal shape, so a
model that learns shows it in a window-level distance, not only in average spectra.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogan.fileio import atomic_path

Sound = Callable[[np.random.Generator, int, float], np.ndarray]


def pluck(rng: np.random.Generator, sample_rate: int, seconds: float) -> np.ndarray:
    """A decaying harmonic tone (Karplus-Strong-like spectrum) at a random pitch in 110-440 Hz."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = rng.uniform(110.0, 440.0)
    tone = sum((0.6**k) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(6))
    return tone * np.exp(-t * rng.uniform(4.0, 8.0))


def chirp(rng: np.random.Generator, sample_rate: int, seconds: float) -> np.ndarray:
    """An upward exponential sine sweep with a smooth envelope."""
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    f_start = rng.uniform(150.0, 400.0)
    f_end = min(f_start * rng.uniform(4.0, 8.0), 0.45 * sample_rate)
    rate = np.log(f_end / f_start) / seconds
    phase = 2 * np.pi * f_start * (np.exp(rate * t) - 1) / rate
    return np.sin(phase) * np.hanning(n)


def noise_burst(rng: np.random.Generator, sample_rate: int, seconds: float) -> np.ndarray:
    """Drum-like hits: noise bursts with fast decay, repeated at a random tempo."""
    n = int(sample_rate * seconds)
    out = np.zeros(n)
    period = int(sample_rate * rng.uniform(0.12, 0.25))
    hit_len = min(period, n)
    env = np.exp(-np.arange(hit_len) / (sample_rate * 0.02))
    for start in range(int(rng.uniform(0, 0.05) * sample_rate), n, period):
        length = min(hit_len, n - start)
        out[start : start + length] += rng.standard_normal(length) * env[:length]
    # a gentle low-pass so the class has a spectral colour of its own
    kernel = np.ones(4) / 4
    return np.convolve(out, kernel, mode="same")


CLASSES: dict[str, Sound] = {"pluck": pluck, "chirp": chirp, "drums": noise_burst}


def make_clip(kind: str, rng: np.random.Generator, sample_rate: int, seconds: float) -> np.ndarray:
    """One clip of class ``kind``, peak-normalised to 0.5, float32."""
    audio = CLASSES[kind](rng, sample_rate, seconds)
    peak = float(np.max(np.abs(audio))) or 1.0
    return (0.5 * audio / peak).astype(np.float32)


def write_corpus(
    root: str | Path,
    per_class: int = 8,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    classes: tuple[str, ...] = tuple(CLASSES),
    seed: int = 0,
    subtype: str = "PCM_16",
) -> Path:
    """Write ``per_class`` WAVs of each class into ``root/<class>/`` and return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for kind in classes:
        for index in range(per_class):
            clip = make_clip(kind, rng, sample_rate, seconds)
            target = root / kind / f"{kind}-{index:03d}.wav"
            with atomic_path(target) as tmp:
                sf.write(tmp, clip, sample_rate, subtype=subtype, format="WAV")
    return root
