"""Cutting long takes into sound events, on the cached log-mel frames (any length, no re-decoding).

Two detectors, both built on librosa:

* ``silence``: a frame is sound when its mel power is within ``top_db`` of the take's loudest
  frame (``librosa.power_to_db(..., ref=max)``, the rule of ``librosa.effects.split``); an event
  is a run of sound frames (runs less than ``gap_seconds`` apart are one event).
* ``onset`` (the default): the same runs, each also cut at the strong onsets inside it
  (``librosa.onset.onset_detect`` on the log-mel's onset strength, backtracked to the preceding
  energy minimum), so hits that follow each other before the last one has decayed are separated.

Measured by ``benchmarks/split.py`` (benchmarks/RESULTS.md): on a drum-like take ``onset`` finds
more hits than ``silence`` at the same precision, the more so with a lower ``onset_delta``; on
spoken digits ``silence`` with a 0.1 s gap keeps more words whole, as onsets inside a word cut
it. Neither finds everything: a hit that has not decayed ``top_db`` below the take's loudest
frame before the next one merges with it unless its onset stands out.

Events then get ``pad_seconds`` of context before the onset (the attack's lead-in) and after the
end, are dropped when shorter than ``min_seconds`` and cut into pieces when longer than
``max_seconds``. Everything works on frames ``(T, M)`` of one file, read from the memory-mapped
cache in chunks, so a take of hours costs a few arrays of one float per frame.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Literal

import librosa
import numpy as np
import soundfile as sf

from audiogan.config import FeatureConfig
from audiogan.errors import ConfigError

__all__ = ["METHODS", "SplitSettings", "find_events", "frame_envelopes", "refine_onsets"]

METHODS = ("silence", "onset")
_CHUNK = 16384  # frames per piece when reading a take's frames from the cache
# Onsets closer than this are one attack (librosa's peak-picking ``wait``).
ONSET_WAIT = 0.05


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """How a take is cut into events (``data.split*`` settings; ``audiogan prepare --split``)."""

    method: Literal["silence", "onset"] = "onset"  # see the module docstring; chosen by benchmarks/split.py
    top_db: float = 40.0  # a frame is silent this many dB below the take's loudest frame
    min_seconds: float = 0.05  # shorter events are dropped (clicks, breaths)
    max_seconds: float = 10.0  # longer events are cut into pieces of at most this length
    pad_seconds: float = 0.03  # kept before each onset and after each end
    gap_seconds: float = 0.0  # sounds closer than this are one event (speech: 0.1 keeps words whole)
    # ``onset`` only: how far the onset strength must rise above its local mean to cut (librosa's
    # peak-picking delta on the normalised envelope; its default 0.07). Lower cuts more: 0.02 found
    # the most drum hits in benchmarks/split.py, but also cuts inside spoken words.
    onset_delta: float = 0.07

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"data.split={self.method!r}: choose one of {', '.join(METHODS)}")
        if not (math.isfinite(self.top_db) and self.top_db > 0):
            raise ConfigError(f"data.split_db={self.top_db:g} must be > 0 (dB below the loudest frame)")
        if not (math.isfinite(self.min_seconds) and self.min_seconds >= 0):
            raise ConfigError(f"data.split_min_seconds={self.min_seconds:g} must be >= 0")
        if not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ConfigError(f"data.split_max_seconds={self.max_seconds:g} must be > 0")
        if self.max_seconds < self.min_seconds:
            raise ConfigError(
                f"data.split_max_seconds={self.max_seconds:g} is below "
                f"data.split_min_seconds={self.min_seconds:g}"
            )
        if not (math.isfinite(self.pad_seconds) and self.pad_seconds >= 0):
            raise ConfigError(f"data.split_pad_seconds={self.pad_seconds:g} must be >= 0")
        if not (math.isfinite(self.gap_seconds) and self.gap_seconds >= 0):
            raise ConfigError(f"data.split_gap_seconds={self.gap_seconds:g} must be >= 0")
        if not (math.isfinite(self.onset_delta) and self.onset_delta > 0):
            raise ConfigError(f"data.split_onset_delta={self.onset_delta:g} must be > 0")


def frame_envelopes(log_mel: np.ndarray, fc: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mel power in dB relative to the loudest frame ``(T,)``, and onset strength ``(T,)``.

    ``log_mel`` is the natural-log magnitude mel ``(T, M)`` (a cache view); read in chunks.
    """
    n = log_mel.shape[0]
    power = np.empty(n, dtype=np.float64)
    onset = np.empty(n, dtype=np.float32)
    previous = None
    for start in range(0, n, _CHUNK):
        chunk = np.asarray(log_mel[start : start + _CHUNK], dtype=np.float32)
        power[start : start + chunk.shape[0]] = np.exp(2.0 * chunk.astype(np.float64)).sum(axis=1)
        # Onset strength on dB-scaled mel (librosa's recipe); one frame of overlap carries the lag.
        db = (20.0 / math.log(10.0)) * chunk.T  # (M, t): log magnitude -> dB
        if previous is not None:
            db = np.concatenate([previous, db], axis=1)
        env = librosa.onset.onset_strength(S=db, sr=fc.sample_rate, hop_length=fc.hop_length, center=False)
        env = env[1:] if previous is not None else env
        onset[start : start + chunk.shape[0]] = env[: chunk.shape[0]]
        previous = db[:, -1:]
    relative = librosa.power_to_db(power, ref=float(power.max()) if n else 1.0, top_db=None)
    return relative.astype(np.float32), onset


def find_events(log_mel: np.ndarray, fc: FeatureConfig, settings: SplitSettings) -> list[tuple[int, int]]:
    """Frame ranges ``[start, end)`` of the sound events in one take's frames ``(T, M)``."""
    n = log_mel.shape[0]
    if n == 0:
        return []
    level, onset = frame_envelopes(log_mel, fc)
    sound = level > -settings.top_db
    # Digital silence (every bin at the log floor) is never sound, however quiet the take.
    floor = 2.0 * math.log(fc.log_floor) + math.log(fc.n_mels) + math.log(4.0)  # 6 dB above the floor
    sound &= _log_power(log_mel) > floor
    if not sound.any():
        return []
    rate = fc.sample_rate / fc.hop_length  # frames per second
    runs: list[tuple[int, int]] = []
    for start, end in _runs(sound):
        if runs and start - runs[-1][1] < settings.gap_seconds * rate:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    if settings.method == "silence":
        return _shape(runs, n, fc, settings)
    wait = max(1, int(ONSET_WAIT * rate))
    try:
        onsets = librosa.onset.onset_detect(
            onset_envelope=onset,
            sr=fc.sample_rate,
            hop_length=fc.hop_length,
            backtrack=True,
            energy=level,
            units="frames",
            wait=wait,
            delta=settings.onset_delta,
        )
    except librosa.util.exceptions.ParameterError:  # no onset at all (backtracking an empty list)
        onsets = np.zeros(0, dtype=int)
    raw = []
    for start, end in runs:
        # Cuts at least `wait` frames from either end of the run, so no sliver event is made.
        cuts = [int(o) for o in onsets if start + wait <= o < end - wait]
        edges = [start, *cuts, end]
        raw += list(zip(edges[:-1], edges[1:]))
    return _shape(raw, n, fc, settings)


def _log_power(log_mel: np.ndarray) -> np.ndarray:
    """Natural log of each frame's mel power ``(T,)``, read in chunks."""
    out = np.empty(log_mel.shape[0], dtype=np.float64)
    for start in range(0, log_mel.shape[0], _CHUNK):
        chunk = np.asarray(log_mel[start : start + _CHUNK], dtype=np.float64)
        peak = chunk.max(axis=1, keepdims=True)
        out[start : start + chunk.shape[0]] = 2 * peak[:, 0] + np.log(np.exp(2 * (chunk - peak)).sum(axis=1))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of every run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _shape(raw: list[tuple[int, int]], n: int, fc: FeatureConfig, s: SplitSettings) -> list[tuple[int, int]]:
    """Pad, drop the too short, cut the too long, keep them in order and apart."""
    rate = fc.sample_rate / fc.hop_length  # frames per second
    pad = int(round(s.pad_seconds * rate))
    shortest = max(1, int(math.ceil(s.min_seconds * rate)))
    longest = max(1, int(s.max_seconds * rate))
    events: list[tuple[int, int]] = []
    for start, end in raw:
        start, end = max(0, start - pad), min(n, end + pad)
        if events and start < events[-1][1]:
            start = events[-1][1]  # padding never makes two events overlap
        if end - start < shortest:
            continue
        for piece in range(start, end, longest):
            stop = min(end, piece + longest)
            if stop - piece >= shortest:
                events.append((piece, stop))
    return events


def refine_onsets(
    path: str | os.PathLike,
    approx: list[float],
    before: float = 0.04,
    after: float = 0.08,
    rel_db: float = 10.0,
) -> list[float]:
    """Sample-accurate onsets (seconds) near frame-based ones, read from the audio file itself.

    Around each ``approx`` onset, the audio from ``before`` s earlier to ``after`` s later is read
    (a seek: a long take is never read whole) and the onset is the first sample where a 2 ms RMS
    envelope comes within ``rel_db`` of its peak there. Frames are 16 ms at the default features;
    measured on the drum-like benchmark take this brings the median onset error from ~17 ms to
    under 1 ms. An onset that cannot be read stays as it was.
    """
    out = []
    with sf.SoundFile(path) as handle:
        rate = handle.samplerate
        window = max(1, int(0.002 * rate))
        for at in approx:
            first = max(0, int((at - before) * rate))
            try:
                handle.seek(min(first, handle.frames))
                data = handle.read(int((before + after) * rate), dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError):
                out.append(at)
                continue
            if data.shape[0] < window:
                out.append(at)
                continue
            power = np.square(data.astype(np.float64)).mean(axis=1)
            envelope = np.sqrt(np.convolve(power, np.ones(window) / window, mode="same"))
            k = int(np.argmax(envelope >= envelope.max() * 10 ** (-rel_db / 20)))
            out.append((first + k) / rate)
    return out
