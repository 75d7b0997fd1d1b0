"""Whole-sound examples: every clip trimmed to its sound and laid at the start of a fixed canvas
of silence, so the model sees where sounds start and end and learns their lengths.

How a folder's clips become training examples is its *mode*:

* ``crop``: fixed-length windows at random positions (textures, long recordings); clips shorter
  than the window are left out unless ``pad_short`` is set;
* ``whole``: each clip's sound (``loud_span`` with ``trim_db``, plus ``pad_seconds`` of the
  recording either side) placed at frame 0 of a canvas of ``canvas`` frames; the rest of the canvas
  is silence. Sounds longer than the canvas keep their first ``canvas`` frames.
* ``auto`` (the default) picks ``whole`` for one-shots: when the 99th percentile of the trimmed
  clip lengths is at most :data:`WHOLE_MAX_SECONDS`; ``crop`` otherwise.

Nothing in a whole-sound example is something the generator cannot make: the silence value is
clamped into ``[-FRAME_LIMIT, FRAME_LIMIT]``, inside the built-in generators' ``out_scale``
(1.25), and real *and generated* frames pass through the same bounds (:func:`bound_frames`: per
bin, the silence value below, ``FRAME_LIMIT`` above), so a generator makes exact silence by going
below it. There is no padding mask (the silence *is* the example), so every discriminator term
(scores, R1/GP, feature matching, multi-scale) sees the same kind of input for real and generated
batches. (Silence at the raw log floor normalises to -1.3 ... -2.0 on FSDD: a value only real
examples could hold.) Generated clips end where their own sound ends, by the same ``loud_span``
rule (:func:`sound_frames`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiogan.config import FRAME_LIMIT, FeatureConfig
from audiogan.data.trim import SILENCE_DB, denormalise, loud_span, normalise
from audiogan.errors import ConfigError, DataError

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet

__all__ = [
    "CANVAS_PERCENTILE",
    "FRAME_LIMIT",
    "MAX_CANVAS_FRAMES",
    "MIN_FRAMES",
    "MODES",
    "WHOLE_MAX_SECONDS",
    "WholeSounds",
    "bound_frames",
    "choose_mode",
    "describe_auto",
    "describe_too_short",
    "plan_whole",
    "silence_floor",
    "sound_frames",
]

MODES = ("auto", "crop", "whole")
#: ``auto`` trains on whole sounds when 99% of the trimmed clips are at most this long.
WHOLE_MAX_SECONDS = 4.0
#: The canvas holds this percentile of the trimmed clip lengths (longer sounds keep their start).
CANVAS_PERCENTILE = 99.0
#: A sound shorter than this many frames cannot be learned from (listed, not trained on).
MIN_FRAMES = 2
#: A canvas longer than this (about 33 s at the default hop) is refused: crop mode suits such clips.
MAX_CANVAS_FRAMES = 2048


@dataclasses.dataclass
class WholeSounds:
    """The whole-sound layout of one FeatureSet: each clip's sound span, the canvas and the silence.

    ``spans (N, 2)`` are ``[start, stop)`` frames within each clip (``stop - start`` may exceed
    ``canvas``: only the first ``canvas`` frames are used); ``silence (M,)`` is the normalised value
    the canvas holds after a sound (:func:`silence_floor`), also the floor of every frame.
    """

    spans: np.ndarray
    canvas: int
    silence: np.ndarray
    trim_db: float = SILENCE_DB
    pad_frames: int = 0
    limit: float = FRAME_LIMIT

    @property
    def lengths(self) -> np.ndarray:
        """Frames of each clip's sound (before the canvas cuts the longest)."""
        return self.spans[:, 1] - self.spans[:, 0]

    def too_short(self) -> np.ndarray:
        """Indices of clips whose sound is shorter than :data:`MIN_FRAMES` (never trained on)."""
        return np.flatnonzero(self.lengths < MIN_FRAMES)

    def sound(self, dataset: FeatureSet, i: int) -> np.ndarray:
        """Clip ``i``'s sound, normalised and clamped, at most ``canvas`` frames ``(L, M)``."""
        start, stop = (int(v) for v in self.spans[i])
        stop = min(stop, start + self.canvas)
        offset = int(dataset.offsets[i])
        frames = dataset.normalise(np.asarray(dataset.data[offset + start : offset + stop]))
        return np.clip(frames, self.silence, self.limit).astype(np.float32)

    def bounds(self) -> tuple[torch.Tensor, float]:
        """``(floor, limit)`` for :func:`bound_frames`."""
        return torch.from_numpy(self.silence.copy()), float(self.limit)

    def example(self, dataset: FeatureSet, i: int, out: np.ndarray) -> None:
        """Write clip ``i`` as a whole-sound example into ``out (canvas, M)``."""
        sound = self.sound(dataset, i)
        out[: sound.shape[0]] = sound
        out[sound.shape[0] :] = self.silence


def describe_too_short(dataset: FeatureSet, whole: WholeSounds, show: int = 3) -> str:
    """One line: the clips whole-sound mode cannot learn from, with the reason, per class and the
    first ``show`` file names; ``none`` when every clip is trained on."""
    short = whole.too_short()
    if not short.size:
        return "none (whole sounds: every clip is trained on)"
    by_class = ""
    if dataset.num_classes:
        counts = np.bincount(dataset.labels[short], minlength=len(dataset.class_names))
        by_class = " (" + ", ".join(f"{n} {k}" for n, k in zip(dataset.class_names, counts) if k) + ")"
    names = ", ".join(dataset.files[int(i)] for i in short[:show]) + (", ..." if short.size > show else "")
    return (
        f"{short.size} of {len(dataset)} clips hold less than {MIN_FRAMES} frames of sound within "
        f"{whole.trim_db:g} dB of their peak and are never sampled{by_class}: {names}"
    )


def describe_auto(dataset: FeatureSet) -> list[str]:
    """Lines for ``audiogan prepare``: the mode ``data.mode=auto`` picks for this folder, and what it
    leaves out (with the default trim settings)."""
    fc = dataset.feature_config
    try:
        whole = plan_whole(dataset, "auto")
    except (ConfigError, DataError) as exc:
        return [f"examples:    crops (data.mode=auto cannot train on whole sounds: {exc})"]
    if whole is None:
        return [
            f"examples:    crops of train.seq_frames frames (data.mode=auto: 1% of the sounds are "
            f"longer than {WHOLE_MAX_SECONDS:g} s)"
        ]
    seconds = whole.canvas * fc.hop_length / fc.sample_rate
    return [
        f"examples:    whole sounds (data.mode=auto) on a {whole.canvas}-frame canvas ({seconds:.2f} s)",
        f"too short:   {describe_too_short(dataset, whole)}",
    ]


def silence_floor(fc: FeatureConfig, limit: float = FRAME_LIMIT) -> np.ndarray:
    """The normalised value of silence per bin ``(M,)`` (``log(log_floor)`` with ``fc``'s
    statistics), clamped into ``[-limit, limit]``: the lowest value a whole-sound frame holds."""
    log_floor = np.full(fc.n_mels, math.log(fc.log_floor), dtype=np.float64)
    return np.clip(normalise(log_floor, fc), -limit, limit).astype(np.float32)


def bound_frames(frames: torch.Tensor, floor: torch.Tensor, limit: float = FRAME_LIMIT) -> torch.Tensor:
    """``frames (..., M)`` clamped per bin into ``[floor, limit]``: the bounds every real whole-sound
    frame lies in, applied to generated frames before D sees them and before they are vocoded, so
    a generator reaches exact silence by going below it (no level near silence is a cue for D)."""
    return torch.maximum(frames, floor.to(device=frames.device, dtype=frames.dtype)).clamp(max=limit)


def _spans(dataset: FeatureSet, trim_db: float, pad_frames: int) -> np.ndarray:
    spans = np.zeros((len(dataset), 2), dtype=np.int64)
    for i in range(len(dataset)):
        log_mel = np.asarray(dataset.log_mel(i))
        start, stop = loud_span(log_mel, trim_db)
        if stop > start:
            start, stop = max(0, start - pad_frames), min(log_mel.shape[0], stop + pad_frames)
        spans[i] = start, stop
    return spans


def choose_mode(lengths_seconds: np.ndarray) -> str:
    """``"whole"`` when the clips are one-shots (99th percentile at most :data:`WHOLE_MAX_SECONDS`),
    else ``"crop"``."""
    if lengths_seconds.size == 0:
        return "crop"
    return (
        "whole" if float(np.percentile(lengths_seconds, CANVAS_PERCENTILE)) <= WHOLE_MAX_SECONDS else "crop"
    )


def plan_whole(
    dataset: FeatureSet,
    mode: str = "auto",
    trim_db: float = SILENCE_DB,
    pad_seconds: float = 0.03,
    canvas_seconds: float | None = None,
    min_frames: int = 1,
) -> WholeSounds | None:
    """The :class:`WholeSounds` layout of ``dataset`` when ``mode`` is (or ``auto`` picks) ``whole``;
    None for crop mode. ``min_frames`` is the smallest canvas allowed (e.g. the evaluator's window).

    :raises ConfigError: an unknown mode, or a canvas beyond :data:`MAX_CANVAS_FRAMES`.
    :raises DataError: no clip holds a sound of :data:`MIN_FRAMES` frames.
    """
    if mode not in MODES:
        raise ConfigError(f"data.mode={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "crop":
        return None
    fc: FeatureConfig = dataset.feature_config
    frame_seconds = fc.hop_length / fc.sample_rate
    pad_frames = max(0, int(round(pad_seconds / frame_seconds)))
    spans = _spans(dataset, trim_db, pad_frames)
    lengths = spans[:, 1] - spans[:, 0]
    if mode == "auto" and choose_mode(lengths * frame_seconds) == "crop":
        return None
    usable = lengths[lengths >= MIN_FRAMES]
    if usable.size == 0:
        raise DataError(
            f"{dataset.root}: no clip holds a sound of {MIN_FRAMES} frames within {trim_db:g} dB of its peak "
            "(data.trim_db); whole-sound mode has nothing to learn from"
        )
    if canvas_seconds is not None:
        canvas = int(math.ceil(canvas_seconds / frame_seconds - 1e-6))  # recorded as frames x seconds
    else:  # a round number of frames just above the percentile, but no longer than any sound
        canvas = int(math.ceil(np.percentile(usable, CANVAS_PERCENTILE) / 8.0) * 8)
        canvas = min(canvas, int(usable.max()))
    canvas = max(canvas, MIN_FRAMES, int(min_frames))
    if canvas > MAX_CANVAS_FRAMES:
        raise ConfigError(
            f"data.mode=whole: a canvas of {canvas} frames ({canvas * frame_seconds:.1f} s) for the "
            f"clips in {dataset.root} is over {MAX_CANVAS_FRAMES}; set data.canvas_seconds lower "
            "or use data.mode=crop"
        )
    return WholeSounds(spans, canvas, silence_floor(fc), float(trim_db), pad_frames)


def sound_frames(frames: np.ndarray, fc: FeatureConfig, record: dict[str, Any], at_least: int = 1) -> int:
    """How many of generated ``frames (T, M)`` (normalised) hold the sound: up to its last frame
    within the run's ``trim_db`` of its loudest, plus the run's ``pad_frames``; at least ``at_least``."""
    _, stop = loud_span(denormalise(frames, fc), float(record.get("trim_db", SILENCE_DB)))
    stop = stop + int(record.get("pad_frames", 0)) if stop else frames.shape[0]
    return int(min(frames.shape[0], max(stop, at_least)))
