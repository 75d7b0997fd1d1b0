"""Cutting long takes into sound events, on the cached log-mel frames (any length, no re-decoding).

Three methods, all built on librosa:

* ``silence``: a frame is sound when its mel power is within ``top_db`` of the take's loudest
  frame (``librosa.power_to_db(..., ref=max)``, the rule of ``librosa.effects.split``); an event
  is a run of sound frames (runs less than ``gap_seconds`` apart are one event).
* ``onset``: the same runs, each also cut at the onsets inside it (``librosa.onset.onset_detect``
  on an onset strength, each moved back to the quietest frame of the analysis window before it:
  see ``_backtrack``), so hits that follow each other before the last one has decayed are
  separated. The onset strength is the largest rise of
  any mel band (``aggregate=max``), after a 3-band maximum filter over the previous frame
  (SuperFlux's trick against vibrato and noise flicker): a knock that starts on a noise burst's
  tail rises in a few low bands only, which the mean over all bands (librosa's default) drowns.
* ``auto`` (the default): ``onset`` on a percussive take, ``silence`` with a gap of at least
  ``SPEECH_GAP`` on any other, chosen per take from the median attack of its runs (the time from
  a run's start to within 6 dB of its first peak): hits reach their peak within a frame or two,
  spoken words later (a consonant before the vowel). Onsets inside a word are as strong as a
  drum's, in level and in onset strength, so no threshold on the onset alone keeps words whole.

Measured by ``benchmarks/split.py`` (benchmarks/RESULTS.md, two seeds): ``auto`` found 95.6% and
97.0% of 500 drum hits at 100% precision (the earlier ``onset`` default: 89.6-92.8%) and kept 299
of 300 spoken digits whole (earlier: 241-243).

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

__all__ = ["METHODS", "SplitSettings", "choose_method", "find_events", "frame_envelopes", "refine_onsets"]

METHODS = ("silence", "onset", "auto")
_CHUNK = 16384  # frames per piece when reading a take's frames from the cache
# Onsets closer than this are one attack (librosa's peak-picking ``wait``).
ONSET_WAIT = 0.05
# A cut inside a run needs the level to dip (fall this much before its quietest frame) or to rise
# this much after it: a steady tone's abrupt end flickers in the high bands, but neither dips nor
# rises.
ONSET_DIP_DB = 1.0
ONSET_LAG = 1  # frames between the two spectra an onset's rise is measured on
# ``auto``: a take whose runs reach their first peak within this median time is percussive (the
# drum-like benchmark takes: 16 ms, one frame; FSDD digits: 48 ms).
PERCUSSIVE_ATTACK = 0.03
# ``auto`` on a take that is not percussive: sounds closer than this are one event (pauses inside
# a spoken word, e.g. before a stop's release). On the FSDD take (0.3-0.8 s between digits) 0.1 s
# kept 294 digits of 300 whole, 0.2 s 298-299, 0.25 s 299 and 0.3 s began to join neighbours.
SPEECH_GAP = 0.25


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """How a take is cut into events (``data.split*`` settings; ``audiogan prepare --split``)."""

    method: Literal["auto", "onset", "silence"] = "auto"  # see the module docstring; benchmarks/split.py
    top_db: float = 40.0  # a frame is silent this many dB below the take's loudest frame
    min_seconds: float = 0.05  # shorter events are dropped (clicks, breaths)
    max_seconds: float = 10.0  # longer events are cut into pieces of at most this length
    pad_seconds: float = 0.03  # kept before each onset and after each end
    # Sounds closer than this are one event (``auto`` on a take that is not percussive: at least
    # SPEECH_GAP).
    gap_seconds: float = 0.0
    # ``onset`` (and ``auto`` on a percussive take): how far the onset strength must rise above its
    # local mean to cut (librosa's peak-picking delta on the normalised envelope; its default 0.07).
    # Lower cuts at weaker onsets.
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
    to_db = 20.0 / math.log(10.0)  # natural-log magnitude -> dB
    previous = None
    for start in range(0, n, _CHUNK):
        chunk = np.asarray(log_mel[start : start + _CHUNK], dtype=np.float32)
        power[start : start + chunk.shape[0]] = np.exp(2.0 * chunk.astype(np.float64)).sum(axis=1)
        # Onset strength on dB-scaled mel (librosa's recipe); ONSET_LAG frames of overlap carry the lag.
        db = to_db * chunk.T  # (M, t)
        if previous is not None:
            db = np.concatenate([previous, db], axis=1)
        # The largest band rise, not the mean (see the module docstring); max_size filters across
        # bands only, so the lag's overlap is still all the context a chunk needs.
        env = librosa.onset.onset_strength(
            S=db,
            sr=fc.sample_rate,
            hop_length=fc.hop_length,
            center=False,
            aggregate=np.max,
            max_size=3,
            lag=ONSET_LAG,
        )
        env = env[db.shape[1] - chunk.shape[0] :]
        onset[start : start + chunk.shape[0]] = env
        previous = db[:, -ONSET_LAG:]
    relative = librosa.power_to_db(power, ref=float(power.max()) if n else 1.0, top_db=None)
    return relative.astype(np.float32), onset


def find_events(log_mel: np.ndarray, fc: FeatureConfig, settings: SplitSettings) -> list[tuple[int, int]]:
    """Frame ranges ``[start, end)`` of the sound events in one take's frames ``(T, M)``."""
    if log_mel.shape[0] == 0:
        return []
    level, onset = frame_envelopes(log_mel, fc)
    runs = _sound_runs(log_mel, level, fc, settings.top_db)
    method, gap = _resolve(settings, level, runs, fc)
    runs = _join(runs, gap * fc.sample_rate / fc.hop_length)
    if method == "silence" or not runs:
        return _shape(runs, log_mel.shape[0], fc, settings)
    return _shape(_cut_at_onsets(runs, level, onset, fc, settings), log_mel.shape[0], fc, settings)


def choose_method(log_mel: np.ndarray, fc: FeatureConfig, settings: SplitSettings) -> str:
    """The method ``settings`` ends up using on this take: ``auto`` resolved to onset or silence."""
    if settings.method != "auto" or log_mel.shape[0] == 0:
        return settings.method
    level, _ = frame_envelopes(log_mel, fc)
    return _resolve(settings, level, _sound_runs(log_mel, level, fc, settings.top_db), fc)[0]


def _sound_runs(log_mel: np.ndarray, level: np.ndarray, fc: FeatureConfig, top_db: float) -> list:
    """``[start, end)`` of every run of frames within ``top_db`` of the loudest (and not digital silence)."""
    sound = level > -top_db
    # Digital silence (every bin at the log floor) is never sound, however quiet the take.
    floor = 2.0 * math.log(fc.log_floor) + math.log(fc.n_mels) + math.log(4.0)  # 6 dB above the floor
    sound &= _log_power(log_mel) > floor
    return _runs(sound)


def _resolve(settings: SplitSettings, level: np.ndarray, runs: list, fc: FeatureConfig) -> tuple[str, float]:
    """The method and merge gap (s) for this take: ``auto`` decides by the runs' median attack."""
    if settings.method != "auto":
        return settings.method, settings.gap_seconds
    if _median_attack(level, runs, fc) <= PERCUSSIVE_ATTACK:
        return "onset", settings.gap_seconds
    return "silence", max(settings.gap_seconds, SPEECH_GAP)


def _median_attack(level: np.ndarray, runs: list, fc: FeatureConfig) -> float:
    """Median over the runs of the seconds from a run's start to within 6 dB of its first peak.

    The peak is the loudest frame of the run's first 0.25 s (one hit, or a word's first syllable);
    runs under three frames (clicks) are left out; no run at all counts as percussive.
    """
    rate = fc.sample_rate / fc.hop_length
    head = max(3, int(0.25 * rate))
    attacks = []
    for start, end in runs:
        if end - start >= 3:
            first = level[start : min(end, start + head)]
            attacks.append(int(np.argmax(first >= first.max() - 6.0)) / rate)
    return float(np.median(attacks)) if attacks else 0.0


def _join(runs: list[tuple[int, int]], gap_frames: float) -> list[tuple[int, int]]:
    """Runs less than ``gap_frames`` apart become one."""
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] < gap_frames:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def _cut_at_onsets(
    runs: list[tuple[int, int]], level: np.ndarray, onset: np.ndarray, fc: FeatureConfig, s: SplitSettings
) -> list[tuple[int, int]]:
    """Every run, cut at the (backtracked) onsets inside it."""
    wait = max(1, int(ONSET_WAIT * fc.sample_rate / fc.hop_length))
    peaks = librosa.onset.onset_detect(
        onset_envelope=onset,
        sr=fc.sample_rate,
        hop_length=fc.hop_length,
        units="frames",
        wait=wait,
        delta=s.onset_delta,
    )
    onsets = _backtrack(peaks, level, fc)
    raw = []
    for start, end in runs:
        # Cuts at least `wait` frames after the run's start (which is an onset itself); a cut near
        # the run's end is kept: a quiet hit on a tail can fall below the threshold within a few
        # frames (requiring `wait` frames there too lost 3 of the 500 hits of the seed-1 take).
        cuts = [int(o) for o in onsets if start + wait <= o < end - 1]
        edges = [start, *cuts, end]
        raw += list(zip(edges[:-1], edges[1:]))
    return raw


def _backtrack(peaks: np.ndarray, level: np.ndarray, fc: FeatureConfig) -> list[int]:
    """Each onset peak moved back to the quietest frame of the window before it; peaks where the
    level does not turn up from there, or neither dips into nor rises out of it, are dropped.

    librosa's ``onset_backtrack`` goes to the nearest local minimum of the energy, which for a hit
    on a still-decaying tail is the previous hit's start (the level falls until the hit): that
    merged 3-5% of the benchmark's hits into the one before. A hit's energy shows at most one
    analysis window (``win_length`` or ``n_fft``) before its peak, so the search stops there.
    A new sound adds energy, so the level rises after that quietest frame; a peak without that
    rise is the flicker of one band in a decaying tail (on the benchmark's drum takes these were
    all 28 false cuts, and 16 of the 157 true cuts inside runs). ``ONSET_DIP_DB`` keeps a steady
    sound's plateau whole.
    """
    reach = max(1, math.ceil((fc.win_length or fc.n_fft) / fc.hop_length))
    out = []
    for peak in (int(p) for p in peaks):
        first = max(0, peak - reach)
        quietest = first + int(np.argmin(level[first : peak + 1]))
        rise = level[quietest + 1 : peak + 3].max(initial=-np.inf) - level[quietest]
        fall = level[first : quietest + 1].max() - level[quietest]
        if rise > 0 and (fall >= ONSET_DIP_DB or rise >= ONSET_DIP_DB):
            out.append(quietest)
    return out


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
    # The lead-in before an onset wins over the previous event's tail: where a cut at an onset
    # leaves no room for both, the tail is shortened (padding the tail first pushed the next
    # event's start up to two pads past its onset, out of the 50 ms the benchmark allows).
    starts = [max(0, start - pad, raw[i - 1][0] + 1 if i else 0) for i, (start, _) in enumerate(raw)]
    events: list[tuple[int, int]] = []
    for i, (start, (_, end)) in enumerate(zip(starts, raw)):
        end = min(n, end + pad, starts[i + 1] if i + 1 < len(starts) else n)
        if events and start < events[-1][1]:
            start = events[-1][1]  # never overlap (a dropped or cut neighbour)
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
    (a seek: a long take is never read whole) and the onset is the first sample, from the steepest
    rise of a 2 ms RMS envelope on, where the envelope comes within ``rel_db`` of its peak after
    that rise (so the louder tail of a previous hit, earlier in the window, is not taken for it).
    Frames are 16 ms at the default features; measured on the drum-like benchmark take this brings
    the median onset error from ~17 ms to
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
            out.append((first + _attack_start(envelope, window, rel_db)) / rate)
    return out


def _attack_start(envelope: np.ndarray, window: int, rel_db: float) -> int:
    """Index of the attack in an RMS ``envelope``: from its steepest rise over ``window`` samples
    on, the first sample within ``rel_db`` of the peak that follows."""
    db = 20.0 * np.log10(np.maximum(envelope, 1e-9))
    rise = int(np.argmax(db[window:] - db[:-window])) if envelope.size > window else 0
    after = envelope[rise:]
    return rise + int(np.argmax(after >= after.max() * 10 ** (-rel_db / 20)))
