"""The folder dataset: scan + feature cache -> :class:`FeatureSet`, and the crop sampler.

``load_dataset(root)`` scans ``root`` (labels from first-level subfolders, see
:func:`audiogan.data.scan.scan_folder`), builds or refreshes the memory-mapped feature cache,
computes per-bin normalisation statistics over every frame of the usable clips, and returns a
:class:`FeatureSet`. :class:`SequenceSampler` draws seeded, class-balanced batches of
fixed-length crops ``(B, T, M)`` from it.

Short clips (fewer frames than the crop): by default they are left out of sampling, because
crops padded with silence teach the generator a silence the real clips do not have. With
``pad_short=True`` they are used, placed at the start of the crop, padded with the silence value
(``log(log_floor)``, normalised) and marked False in the batch mask. When no clip (or no clip of
some class) is long enough and ``pad_short`` is off, the sampler raises a DataError that says so.
Given a :class:`~audiogan.data.whole.WholeSounds` layout, the sampler draws whole-sound examples
instead (every clip's sound on a canvas of silence; see :mod:`audiogan.data.whole`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan.config import FeatureConfig
from audiogan.data import audio, cache
from audiogan.data.split import SplitSettings, find_events, refine_onsets
from audiogan.data.whole import WholeSounds, describe_too_short
from audiogan.errors import DataError

__all__ = ["Batch", "FeatureSet", "SequenceSampler", "load_dataset", "format_duration", "DEFAULT_MIN_SECONDS"]

DEFAULT_MIN_SECONDS = 0.05  # clips shorter than this are noise, not examples (FSDD's shortest is 0.14 s)
_MIN_STD = 1e-3  # floor for per-bin std, so a constant bin (e.g. above a low-pass) cannot divide by ~0


class FeatureSet:
    """Usable clips of a data folder as normalised log-mel, backed by the memory-mapped cache.

    Attributes: ``feature_config`` (statistics filled), ``class_names`` (sorted; empty when
    unlabelled), ``files`` (relative POSIX paths), ``labels`` ``(N,)`` int64 (-1 when
    unlabelled), ``lengths`` ``(N,)`` frames per clip, ``seconds`` ``(N,)`` duration of each
    file, ``skipped`` ``[(path, reason)]``, ``root``, ``cache_dir`` and ``build`` (what the last
    cache build did: ``decoded``, ``reused``, ``cache_hit``, ``seconds``, ``cache_bytes``).
    When takes were cut into events (``split``), every event is a clip: ``files[i]`` is its source
    file, ``starts[i]`` its first frame there and ``seconds[i]`` its own duration.
    """

    def __init__(
        self,
        root: Path,
        feature_config: FeatureConfig,
        data: np.ndarray,
        files: list[str],
        labels: np.ndarray,
        offsets: np.ndarray,
        lengths: np.ndarray,
        seconds: np.ndarray,
        class_names: list[str],
        skipped: list[tuple[str, str]],
        cache_dir: Path | None = None,
        build: dict[str, Any] | None = None,
        starts: np.ndarray | None = None,
        start_seconds: np.ndarray | None = None,
    ) -> None:
        self.root = root
        self.feature_config = feature_config
        self.data = data  # (total_frames, M) raw log-mel, memory-mapped
        self.files = files
        self.labels = labels
        self.offsets = offsets
        self.lengths = lengths
        self.seconds = seconds
        self.class_names = class_names
        self.skipped = skipped
        self.cache_dir = cache_dir
        self.build = build or {}
        # First frame of each clip within its file: all 0 unless takes were cut into events.
        self.cut_into_events = starts is not None
        # Events only: where each starts in its file, in seconds: the onset (sample-accurate where
        # the file can be read) less the split's lead-in, for the listing and the exported slices.
        self.start_seconds = start_seconds
        self.starts = starts if starts is not None else np.zeros(len(files), dtype=np.int64)
        fc = feature_config
        if not fc.has_stats:
            raise DataError(f"{root}: feature statistics are missing")
        self._mean = np.asarray(fc.mel_mean, dtype=np.float32)
        self._scale = np.asarray(fc.mel_std, dtype=np.float32) * np.float32(fc.norm_scale)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        """Number of class labels (0 when the folder is unlabelled)."""
        return len(self.class_names)

    @property
    def total_seconds(self) -> float:
        """Total duration of the usable clips."""
        return float(self.seconds.sum())

    def class_counts(self) -> dict[str, int]:
        """Usable clips per class name (empty when unlabelled)."""
        counts = Counter(int(i) for i in self.labels if i >= 0)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}

    def skipped_by_reason(self) -> dict[str, list[str]]:
        """Skipped files grouped by reason, the most frequent reason first."""
        groups: dict[str, list[str]] = {}
        for path, reason in self.skipped:
            groups.setdefault(reason, []).append(path)
        return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def describe(self, show: int = 3) -> list[str]:
        """What the folder holds, as aligned text lines: folder, files used, classes with counts and
        skipped files by reason (``show`` names per reason). ``audiogan prepare`` and training print it."""
        used = (
            f"{len(self)}"
            if not self.cut_into_events
            else f"{len(set(self.files))}, cut into {len(self)} events"
        )
        lines = [
            f"data folder: {self.root}",
            f"files used:  {used} ({format_duration(self.total_seconds)} of audio, "
            f"{int(self.lengths.sum())} frames)",
        ]
        if self.num_classes:
            counts = ", ".join(f"{name} ({n})" for name, n in self.class_counts().items())
            lines.append(f"classes:     {self.num_classes}: {counts}")
        else:
            lines.append("classes:     none (unlabelled: no first-level subfolders)")
        groups = self.skipped_by_reason()
        if groups:
            lines.append(f"skipped:     {len(self.skipped)} files")
            for reason, paths in groups.items():
                shown = ", ".join(paths[:show]) + (", ..." if len(paths) > show else "")
                lines.append(f"  {reason} ({len(paths)}): {shown}")
        else:
            lines.append("skipped:     none")
        return lines

    def summary(self, examples: int = 20) -> dict[str, Any]:
        """The same facts as :meth:`describe` as a JSON-ready dict (a run folder keeps it as ``data.json``).

        Per class: files, seconds and median seconds; skipped files: a count and the first
        ``examples`` paths per reason.
        """
        classes = {}
        for i, name in enumerate(self.class_names):
            seconds = self.seconds[self.labels == i]
            classes[name] = {
                "files": int(len(seconds)),
                "seconds": float(seconds.sum()),
                "median_seconds": float(np.median(seconds)) if len(seconds) else 0.0,
            }
        return {
            "root": str(Path(self.root).resolve()),
            "files": len(self),
            "seconds": self.total_seconds,
            "median_seconds": float(np.median(self.seconds)) if len(self) else 0.0,
            "frames": int(self.lengths.sum()),
            "classes": classes,
            "skipped": {
                reason: {"count": len(paths), "examples": paths[:examples]}
                for reason, paths in self.skipped_by_reason().items()
            },
            "skipped_files": len(self.skipped),
        }

    def events(self) -> list[tuple[str, float, float, str | None]]:
        """Every clip as ``(source file, start s, end s, label)``: the listing ``prepare --split`` writes."""
        frame = self.feature_config.hop_length / self.feature_config.sample_rate
        names = self.class_names
        rows = []
        for i in range(len(self)):
            start = float(self.starts[i]) * frame
            end = float(self.starts[i] + self.lengths[i]) * frame
            if self.start_seconds is not None:
                start = max(0.0, min(end, float(self.start_seconds[i])))
            label = names[int(self.labels[i])] if self.labels[i] >= 0 else None
            rows.append((self.files[i], round(start, 4), round(end, 4), label))
        return rows

    def log_mel(self, i: int) -> np.ndarray:
        """Raw (not normalised) log-mel of clip ``i``: a read-only view ``(T_i, M)``."""
        start = int(self.offsets[i])
        return self.data[start : start + int(self.lengths[i])]

    def normalise(self, log_mel: np.ndarray) -> np.ndarray:
        """Raw log-mel ``(..., M)`` -> normalised float32 with this set's statistics."""
        return ((np.asarray(log_mel, dtype=np.float32) - self._mean) / self._scale).astype(
            np.float32, copy=False
        )

    def clip(self, i: int) -> np.ndarray:
        """Normalised features of clip ``i``: float32 ``(T_i, M)`` (a fresh array)."""
        return self.normalise(self.log_mel(i))

    @property
    def silence(self) -> np.ndarray:
        """The normalised value of silence per bin ``(M,)`` (used to pad short crops)."""
        floor = np.full(self.feature_config.n_mels, math.log(self.feature_config.log_floor), dtype=np.float32)
        return self.normalise(floor)


def format_duration(seconds: float) -> str:
    """A duration for people: seconds below two minutes, then minutes, then hours."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _compute_stats(
    totals: dict[str, list[float]], data: np.ndarray, excluded: list[tuple[int, int]], frames: int
) -> tuple[list[float], list[float]]:
    """Per-bin mean/std over the usable frames: the cache's totals minus the excluded clips."""
    total = np.asarray(totals["sum"], dtype=np.float64)
    total_sq = np.asarray(totals["sumsq"], dtype=np.float64)
    for start, length in excluded:
        block = np.asarray(data[start : start + length], dtype=np.float64)
        total = total - block.sum(axis=0)
        total_sq = total_sq - np.square(block).sum(axis=0)
    count = max(frames, 1)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean.tolist(), np.maximum(std, _MIN_STD).tolist()


def _no_usable_error(root: Path, skipped: list[tuple[str, str]]) -> DataError:
    exts = ", ".join(audio.AUDIO_EXTENSIONS)
    if not skipped:
        return DataError(f"no audio files in {root} (looked for {exts})")
    counts = Counter(reason for _, reason in skipped)
    parts = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    return DataError(f"no usable audio in {root} (looked for {exts}); skipped {len(skipped)} files: {parts}")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_dataset(
    root: str | os.PathLike,
    feature_config: FeatureConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    split: SplitSettings | None = None,
) -> FeatureSet:
    """Scan ``root``, build or refresh its feature cache and return the usable clips.

    :param feature_config: the feature layout (default :class:`FeatureConfig`). Statistics it
        already carries (e.g. from a checkpoint being fine-tuned) are kept; otherwise they are
        computed over all frames of the usable clips. The input object is not modified.
    :param cache_dir: where caches live (default ``<root>/.audiogan-cache``, or the user cache
        folder ``~/.cache/audiogan`` when ``root`` is read-only).
    :param workers: decoding processes (default: CPU count, at most 8).
    :param progress: show a progress bar on stderr while decoding.
    :param min_seconds: files shorter than this are skipped (they stay cached, so changing it
        needs no re-decoding).
    :param split: cut every file into sound events (:mod:`audiogan.data.split`), found on the
        cached frames (changing the settings needs no re-decoding); each event becomes a clip
        with its file's label. A file with no event is listed in ``skipped`` with the reason.
    :raises DataError: the folder is missing or has no usable file (the message names the folder,
        the extensions looked for and the skip counts by reason).
    """
    started = time.perf_counter()
    root = Path(root)
    fc = feature_config if feature_config is not None else FeatureConfig()
    if min_seconds < 0:
        raise DataError(f"min_seconds={min_seconds} must be >= 0")
    with _gc_paused():  # tens of thousands of small objects; cyclic GC passes over them are wasted
        scan = cache.scan_folder(root)
        folder = cache.cache_folder(root, fc, cache_dir)
        index = cache.build_cache(scan, fc, folder, workers=workers, progress=progress)
        rows = index.rows_for(scan)  # one row per scanned candidate, same order
    reasons, all_seconds = rows["reason"], rows["seconds"]
    keep = [i for i, (r, sec) in enumerate(zip(reasons, all_seconds)) if r is None and sec >= min_seconds]
    skipped = list(scan.skipped)
    short = f"{cache.REASON_TOO_SHORT} ({min_seconds:g} s)"
    excluded: list[tuple[int, int]] = []  # cached clips left out of the statistics (too short)
    if len(keep) < len(reasons):
        kept = set(keep)
        for i, cand in enumerate(scan.candidates):
            if i in kept:
                continue
            if reasons[i] is not None:
                skipped.append((cand.rel, reasons[i]))
            else:
                skipped.append((cand.rel, short))
                excluded.append((rows["offset"][i], rows["frames"][i]))
    notes = rows.get("note") or [None] * len(reasons)
    skipped += [(scan.candidates[i].rel, f"partly used: {notes[i]}") for i in keep if notes[i]]
    skipped.sort()
    if not keep:
        raise _no_usable_error(root, skipped)
    files = [scan.candidates[i].rel for i in keep]
    label_names = [scan.candidates[i].label for i in keep]
    offsets_l = [rows["offset"][i] for i in keep]
    lengths_l = [rows["frames"][i] for i in keep]
    seconds_l = [all_seconds[i] for i in keep]
    starts_l = [0] * len(keep)
    if split is not None:
        files, label_names, offsets_l, lengths_l, seconds_l, starts_l, silent = _cut_events(
            index.data, fc, split, files, label_names, offsets_l, lengths_l
        )
        onsets = _refined_onsets(root, files, starts_l, fc, split)
        skipped = sorted(skipped + silent)
        if not files:
            raise DataError(
                f"no sound events in {root} at data.split_db={split.top_db:g} (dB below each file's "
                f"loudest frame) and data.split_min_seconds={split.min_seconds:g}"
            )
    class_names = sorted({name for name in label_names if name is not None})
    class_index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([class_index[n] if n is not None else -1 for n in label_names], dtype=np.int64)
    offsets_a = np.array(offsets_l, dtype=np.int64)
    lengths_a = np.array(lengths_l, dtype=np.int64)
    seconds = np.array(seconds_l, dtype=np.float64)
    if not fc.has_stats and split is None:
        mean, std = _compute_stats(index.manifest["totals"], index.data, excluded, int(lengths_a.sum()))
        fc = dataclasses.replace(fc, mel_mean=mean, mel_std=std)
    elif not fc.has_stats:  # the events' own frames, not the silence between them
        mean, std = _stats_of(index.data, offsets_a, lengths_a)
        fc = dataclasses.replace(fc, mel_mean=mean, mel_std=std)
    build = {
        "decoded": index.decoded,
        "reused": index.reused,
        "cache_hit": index.hit,
        "cache_bytes": index.nbytes,
        "seconds": time.perf_counter() - started,
    }
    return FeatureSet(
        root,
        fc,
        index.data,
        files,
        labels,
        offsets_a,
        lengths_a,
        seconds,
        class_names,
        skipped,
        cache_dir=folder,
        build=build,
        starts=np.array(starts_l, dtype=np.int64) if split is not None else None,
        start_seconds=np.array(onsets, dtype=np.float64) - split.pad_seconds if split is not None else None,
    )


def _cut_events(
    data: np.ndarray,
    fc: FeatureConfig,
    split: SplitSettings,
    files: list[str],
    labels: list[str | None],
    offsets: list[int],
    lengths: list[int],
) -> tuple[list, list, list, list, list, list, list[tuple[str, str]]]:
    """Every file's events as clips; files without one come back as ``(path, reason)``."""
    out: tuple[list, ...] = ([], [], [], [], [], [])
    silent: list[tuple[str, str]] = []
    frame = fc.hop_length / fc.sample_rate
    for rel, label, offset, length in zip(files, labels, offsets, lengths):
        events = find_events(data[offset : offset + length], fc, split)
        if not events:
            silent.append((rel, f"no sound event ({split.method}, {split.top_db:g} dB below its peak)"))
        for start, end in events:
            for column, value in zip(
                out, (rel, label, offset + start, end - start, (end - start) * frame, start)
            ):
                column.append(value)
    return (*out, silent)  # type: ignore[return-value]


def _refined_onsets(
    root: Path, files: list[str], starts: list[int], fc: FeatureConfig, split: SplitSettings
) -> list[float]:
    """Each event's onset in seconds, sample-accurate where its file can be read (one pass per file)."""
    frame = fc.hop_length / fc.sample_rate
    approx = [start * frame + split.pad_seconds for start in starts]
    out = list(approx)
    by_file: dict[str, list[int]] = {}
    for i, rel in enumerate(files):
        by_file.setdefault(rel, []).append(i)
    for rel, indices in by_file.items():
        try:
            refined = refine_onsets(root / rel, [approx[i] for i in indices])
        except (OSError, RuntimeError, ValueError):
            continue  # unreadable now: keep the frame-based onsets
        for i, onset in zip(indices, refined):
            out[i] = onset
    return out


def _stats_of(data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-bin mean and std over the given clips' frames (float64 sums, read clip by clip)."""
    total = np.zeros(data.shape[1], dtype=np.float64)
    total_sq = np.zeros(data.shape[1], dtype=np.float64)
    for offset, length in zip(offsets, lengths):
        frames = np.asarray(data[offset : offset + length], dtype=np.float64)
        total += frames.sum(axis=0)
        total_sq += np.square(frames).sum(axis=0)
    n = max(int(lengths.sum()), 1)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    return mean.tolist(), np.maximum(std, _MIN_STD).tolist()


@dataclasses.dataclass
class Batch:
    """One batch of crops: ``frames`` ``(B, T, M)`` float32 normalised, ``labels`` ``(B,)`` int64 or
    None when unlabelled, ``mask`` ``(B, T)`` bool, True on real frames (False on padding)."""

    frames: torch.Tensor
    labels: torch.Tensor | None
    mask: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch on ``device``."""
        labels = None if self.labels is None else self.labels.to(device, non_blocking=non_blocking)
        return Batch(
            self.frames.to(device, non_blocking=non_blocking),
            labels,
            self.mask.to(device, non_blocking=non_blocking),
        )


class SequenceSampler:
    """An endless, seeded stream of fixed-length crops from a :class:`FeatureSet`.

    Batch ``k`` on rank ``r`` is drawn from its own generator seeded with ``(seed, r, k)``, so the
    stream is reproducible, ranks draw different crops, and resuming needs only the batch count
    (:meth:`state_dict`). With ``balance`` (and labels) each crop first picks a class uniformly,
    then a clip of that class uniformly; otherwise a clip uniformly. The crop start is uniform
    over the clip. See the module docstring for how short clips are handled. Clips in ``exclude``
    (the held-out slice) are never drawn.
    """

    def __init__(
        self,
        dataset: FeatureSet,
        batch_size: int,
        seq_frames: int,
        seed: int = 0,
        balance: bool = True,
        pad_short: bool = False,
        rank: int = 0,
        world_size: int = 1,
        exclude: np.ndarray | None = None,
        whole: WholeSounds | None = None,
    ) -> None:
        if whole is not None:  # whole-sound examples: the canvas is the sequence length
            seq_frames = whole.canvas
        if batch_size < 1 or seq_frames < 1:
            raise DataError(f"batch_size={batch_size} and seq_frames={seq_frames} must both be >= 1")
        if not 0 <= rank < world_size:
            raise DataError(f"rank={rank} must be in [0, world_size={world_size})")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seq_frames = int(seq_frames)
        self.seed = int(seed)
        self.balance = bool(balance)
        self.pad_short = bool(pad_short)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.batches_drawn = 0
        self.whole = whole
        if whole is not None:
            eligible = np.setdiff1d(np.arange(len(dataset)), whole.too_short())
        elif pad_short:
            eligible = np.arange(len(dataset))
        else:
            eligible = np.flatnonzero(dataset.lengths >= self.seq_frames)
        if exclude is not None and len(exclude):  # the held-out slice (audiogan.data.holdout)
            eligible = np.setdiff1d(eligible, np.asarray(exclude, dtype=np.int64))
        if eligible.size == 0:
            longest = int(dataset.lengths.max())
            seconds = longest * dataset.feature_config.hop_length / dataset.feature_config.sample_rate
            raise DataError(
                f"no clip in {dataset.root} has {self.seq_frames} frames "
                f"(longest: {longest} frames, {seconds:.2f} s); "
                "lower --seq-frames or turn on padding of short clips (pad_short)"
            )
        self.eligible = eligible
        if whole is None and eligible.size < 0.5 * len(dataset):
            # Not an error (long crops can be the right choice), but most of the data goes unused.
            warnings.warn(
                f"only {eligible.size} of {len(dataset)} clips in {dataset.root} "
                f"have {self.seq_frames} frames or more; "
                "the shorter ones are never sampled (lower seq_frames or turn on pad_short to use them)",
                stacklevel=2,
            )
        self.groups: list[np.ndarray] = []
        if self.balance and dataset.num_classes:
            for c, name in enumerate(dataset.class_names):
                group = eligible[dataset.labels[eligible] == c]
                if group.size == 0:
                    raise DataError(
                        f"class {name!r} in {dataset.root} has no clip of {self.seq_frames} frames; "
                        "lower --seq-frames or turn on padding of short clips (pad_short)"
                    )
                self.groups.append(group)
        self._floor = np.float32(math.log(dataset.feature_config.log_floor))

    def too_short(self) -> dict[str, int]:
        """Clips never sampled because they are shorter than the crop, per class name (``""`` when
        unlabelled); empty with ``pad_short`` (every clip is sampled, padded). In whole-sound mode,
        the clips whose sound is under :data:`~audiogan.data.whole.MIN_FRAMES` frames."""
        if self.whole is not None:
            short = self.whole.too_short()
        elif self.pad_short:
            return {}
        else:
            short = np.flatnonzero(self.dataset.lengths < self.seq_frames)
        if not self.dataset.num_classes:
            return {"": int(short.size)} if short.size else {}
        names = self.dataset.class_names
        counts = np.bincount(self.dataset.labels[short], minlength=len(names))
        return {names[c]: int(n) for c, n in enumerate(counts) if n}

    def describe_short(self) -> str:
        """One line for the start of training: how many clips the crop length leaves out, by class."""
        counts = self.too_short()
        if not counts:
            if self.whole is not None:
                return "none (whole sounds: every clip is trained on)"
            return "none" if not self.pad_short else "none (shorter clips are padded: data.pad_short)"
        if self.whole is not None:
            return describe_too_short(self.dataset, self.whole)
        total, clips = sum(counts.values()), len(self.dataset)
        by_class = ", ".join(f"{name} {n}" for name, n in counts.items() if name)
        fc = self.dataset.feature_config
        seconds = self.seq_frames * fc.hop_length / fc.sample_rate
        return (
            f"{total} of {clips} clips ({100.0 * total / clips:.0f}%) are shorter than the "
            f"{self.seq_frames}-frame crop ({seconds:.2f} s) and never sampled"
            + (f" ({by_class})" if by_class else "")
            + "; lower train.seq_frames or set data.pad_short=true to use them"
        )

    def __iter__(self) -> SequenceSampler:
        return self

    def __next__(self) -> Batch:
        return self.next_batch()

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.rank, self.world_size, self.batches_drawn])

    def next_batch(self) -> Batch:
        """Draw the next batch."""
        rng = self._rng()
        self.batches_drawn += 1
        ds, B, T = self.dataset, self.batch_size, self.seq_frames
        if self.groups:
            classes = rng.integers(len(self.groups), size=B)
            picks = np.array([self.groups[c][rng.integers(self.groups[c].size)] for c in classes])
        else:
            picks = self.eligible[rng.integers(self.eligible.size, size=B)]
        frames = np.empty((B, T, ds.feature_config.n_mels), dtype=np.float32)
        labels = torch.from_numpy(ds.labels[picks]) if ds.num_classes else None
        if self.whole is not None:
            for b, i in enumerate(picks.tolist()):
                self.whole.example(ds, i, frames[b])
            return Batch(torch.from_numpy(frames), labels, torch.ones((B, T), dtype=torch.bool))
        mask = np.zeros((B, T), dtype=bool)
        for b, i in enumerate(picks.tolist()):
            length = int(ds.lengths[i])
            start = int(ds.offsets[i])
            if length >= T:
                start += int(rng.integers(length - T + 1))
                frames[b] = ds.data[start : start + T]
                mask[b] = True
            else:
                frames[b, :length] = ds.data[start : start + length]
                frames[b, length:] = self._floor  # silence, so it normalises to ds.silence
                mask[b, :length] = True
        frames = ds.normalise(frames)
        return Batch(torch.from_numpy(frames), labels, torch.from_numpy(mask))

    def state_dict(self) -> dict[str, int]:
        """What a resumed run needs to continue the exact stream (plain ints)."""
        return {
            "seed": self.seed,
            "batches_drawn": self.batches_drawn,
            "rank": self.rank,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (rank and world size stay this sampler's own)."""
        self.seed = int(state["seed"])
        self.batches_drawn = int(state["batches_drawn"])
