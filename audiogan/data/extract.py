"""Files to raw log-mel features: decode, mix to mono, resample, log-mel, in batches.

With :mod:`audiogan.data.stream` (long files), the code whose output the feature cache stores,
so :data:`EXTRACTOR_VERSION` (a digest of this module, :mod:`audiogan.data.audio`,
:mod:`audiogan.data.resample`, :mod:`audiogan.data.stream` and :mod:`audiogan.features`, plus the
versions of the libraries they call) is part of the cache's key: editing any of them invalidates
old caches by itself, with no constant to remember to bump.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from audiogan import features
from audiogan.config import FeatureConfig
from audiogan.data import audio, resample, stream
from audiogan.features import MelFrontEnd

__all__ = ["EXTRACTOR_VERSION", "extract", "extract_many", "extractor_version"]


def extractor_version() -> str:
    """A digest of the feature-making code (its syntax tree: comments and layout do not count) and
    of the torch, torchaudio and libsndfile versions that run it."""
    digest = hashlib.sha256()
    for path in (features.__file__, audio.__file__, resample.__file__, stream.__file__, __file__):
        source = Path(path).read_text(encoding="utf-8")
        digest.update(ast.dump(ast.parse(source)).encode())
    for version in (torch.__version__, torchaudio.__version__, soundfile.__libsndfile_version__):
        digest.update(str(version).encode())
    return digest.hexdigest()[:16]


_FRONT_ENDS: dict[str, MelFrontEnd] = {}  # one per layout, reused across calls
_BATCH = 32  # clips per mel call
_SLACK = 1.25  # a batch's longest clip is at most this much longer than its shortest


def _front_end(fc: FeatureConfig) -> MelFrontEnd:
    key = json.dumps(fc.to_dict(), sort_keys=True)
    if key not in _FRONT_ENDS:
        _FRONT_ENDS[key] = MelFrontEnd(fc)
    return _FRONT_ENDS[key]


def _decode(path: str | os.PathLike) -> tuple[np.ndarray | None, int, str | None]:
    try:
        samples, rate = audio.decode(path)
        return samples, rate, None
    except audio.AudioFileError as exc:
        return None, 0, exc.reason
    except Exception as exc:  # a bad file must never stop a scan; report what happened
        return None, 0, f"{audio.REASON_UNREADABLE} ({type(exc).__name__})"


def extract_many(paths: list[str], fc: FeatureConfig) -> list[tuple[np.ndarray | None, float, str | None]]:
    """Decode files to raw log-mel ``(T, M)`` float32: per file ``(frames, seconds, None)`` or
    ``(None, 0, reason)``.

    Clips of the same rate and similar length are resampled and analysed as one zero-padded
    batch. That is exact: the resampler and the front end both pad with zeros themselves, so
    padding a clip further leaves its own samples and ``S // hop + 1`` frames unchanged; and it
    removes most of the per-call overhead that dominates short clips.
    """
    decoded = [_decode(path) for path in paths]
    results: list[tuple[np.ndarray | None, float, str | None]] = [(None, 0.0, r) for _, _, r in decoded]
    valid = [i for i, item in enumerate(decoded) if item[0] is not None]
    order = sorted(valid, key=lambda i: (decoded[i][1], decoded[i][0].shape[0]))  # by rate, then length
    groups: list[list[int]] = []
    for i in order:
        samples, rate, _ = decoded[i]
        if groups:
            first = decoded[groups[-1][0]]
            if (
                len(groups[-1]) < _BATCH
                and rate == first[1]
                and samples.shape[0] <= _SLACK * first[0].shape[0]
            ):
                groups[-1].append(i)
                continue
        groups.append([i])
    front = _front_end(fc)
    for group in groups:
        rate = decoded[group[0]][1]
        batch = np.zeros((len(group), decoded[group[-1]][0].shape[0]), dtype=np.float32)
        for row, i in enumerate(group):
            batch[row, : decoded[i][0].shape[0]] = decoded[i][0]
        with torch.inference_mode():
            wave = torch.from_numpy(batch)
            lengths = [
                -(-decoded[i][0].shape[0] * fc.sample_rate // rate) for i in group
            ]  # ceil, as torchaudio
            if rate != fc.sample_rate:
                wave = audio.resampler(rate, fc.sample_rate)(wave)
                for row, n_out in enumerate(lengths):
                    wave[row, n_out:] = 0.0  # the filter rings past a clip's end; one-by-one would cut it
            mel = front.log_mel(wave).numpy()
        for row, (i, n_out) in enumerate(zip(group, lengths)):
            seconds = decoded[i][0].shape[0] / rate
            frames = np.ascontiguousarray(mel[row, : n_out // fc.hop_length + 1])
            if not np.isfinite(frames).all():  # last line of defence: never cache NaN features
                results[i] = (None, 0.0, audio.REASON_NON_FINITE)
                continue
            results[i] = (frames, seconds, None)
    return results


def extract(path: str | os.PathLike, fc: FeatureConfig) -> tuple[np.ndarray | None, float, str | None]:
    """Decode one file to raw log-mel ``(T, M)`` float32: ``(frames, seconds, None)`` or
    ``(None, 0, reason)``."""
    return extract_many([str(path)], fc)[0]


#: The digest for the code loaded now (see :func:`extractor_version`).
EXTRACTOR_VERSION = extractor_version()
