"""Decoding and writing audio files: soundfile in, mono float32 out, torchaudio resampling.

Every format the installed libsndfile reads is accepted (WAV in all its sample formats including
WAVE_FORMAT_EXTENSIBLE, FLAC, OGG/Vorbis, AIFF, and MP3 where libsndfile >= 1.1 was built with it).
Failures are :class:`AudioFileError` (a :class:`~audiogan.errors.DataError`) whose ``reason`` is a
short category used to group skipped files in reports.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from audiogan.data.resample import BandedResampler
from audiogan.errors import DataError
from audiogan.fileio import atomic_path

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioFileError",
    "check_samples",
    "decode",
    "open_audio",
    "load_audio",
    "resample",
    "resampler",
    "to_mono",
    "write_audio",
]

# File name endings treated as audio by folder scans (lower case). Anything libsndfile can read
# is decoded regardless of its name; this list only decides which files a scan looks at.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav",
    ".wave",
    ".flac",
    ".ogg",
    ".oga",
    ".mp3",
    ".aif",
    ".aiff",
    ".aifc",
    ".au",
    ".snd",
    ".caf",
    ".w64",
    ".rf64",
)

# Skip reasons (stable strings: reports group by them and tests match them).
REASON_EMPTY = "zero bytes"
REASON_NOT_AUDIO = "not an audio file"
REASON_UNREADABLE = "unreadable or corrupt"
REASON_NO_FRAMES = "no audio frames"
REASON_NON_FINITE = "non-finite samples"
REASON_TOO_LONG = "longer than the duration limit"
REASON_OUT_OF_RANGE = "samples far beyond full scale"

# Float files may exceed full scale (1.0) a little; 1e4 (+80 dB) is no recording but a corrupt or
# mislabelled payload, and values near 1e19 overflow float32 in the power spectrum (NaN features).
MAX_ABS_SAMPLE = 1e4

# Files longer than this are streamed block by block (audiogan.data.stream) instead of decoded
# whole: decoding an hour in one piece peaked near 3 GB; streamed, any length stays bounded.
STREAM_SECONDS = 60.0

# Leading bytes of the containers libsndfile reads; a file that matches none is "not audio"
# rather than "corrupt", which tells the user it is a misnamed file, not a damaged recording.
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b".snd", b"caff", b"ID3", b"riff", b"BW64")


class AudioFileError(DataError):
    """A file that cannot be used as audio; ``reason`` is one of the REASON_* categories."""

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))


def _looks_like_audio(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return True  # cannot tell; let the caller report it as unreadable
    if head.startswith(_MAGIC):
        return True
    # Raw MPEG audio frames start with an 11-bit sync word.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def open_audio(path: str | os.PathLike) -> sf.SoundFile:
    """Open ``path`` for reading with soundfile (the caller closes it).

    :raises AudioFileError: zero-length, non-audio or unreadable files.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise AudioFileError(path, REASON_EMPTY)
    except OSError as exc:
        raise AudioFileError(path, REASON_UNREADABLE, exc.strerror or str(exc)) from None
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as exc:
        raise _read_error(path, exc) from None


def _read_error(path: Path, exc: BaseException) -> AudioFileError:
    reason = REASON_UNREADABLE if _looks_like_audio(path) else REASON_NOT_AUDIO
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return AudioFileError(path, reason, detail)


def to_mono(data: np.ndarray) -> np.ndarray:
    """``(S, C)`` float32 or int16 -> ``(S,)`` float32, the mean of the channels.

    Summed channel by channel: numpy's ``mean(axis=1)`` over a few interleaved channels was the
    slowest step of streaming a long stereo file (0.66 of 2.2 s for ten minutes of 44.1 kHz).
    """
    if data.shape[1] == 1:
        return np.ascontiguousarray(data[:, 0], dtype=np.float32)
    mono = data[:, 0].astype(np.float32)
    for channel in range(1, data.shape[1]):
        mono += data[:, channel]
    mono *= np.float32(1.0 / data.shape[1])
    return mono


def read_mono(handle: sf.SoundFile, frames: int) -> tuple[np.ndarray, bool]:
    """Read up to ``frames`` frames from ``handle`` as mono float32: ``(samples (S,), checked)``.

    16-bit PCM (most WAV and FLAC files) is read as int16 and scaled here: libsndfile's own float
    conversion was 0.9 of the 1.3 s that reading an hour of 44.1 kHz stereo took. The result is
    bit-identical to :func:`to_mono` of a float32 read: the channel sums of int16 values are
    exact in float32 and scaling by 2^-15 is exact. ``checked`` is True when the samples cannot
    be non-finite or out of range (integers), so :func:`check_samples` has nothing to find.
    """
    if handle.subtype != "PCM_16" or handle.channels * 32768 >= 1 << 24:
        return to_mono(handle.read(frames, dtype="float32", always_2d=True)), False
    mono = to_mono(handle.read(frames, dtype="int16", always_2d=True))
    mono *= np.float32(2.0**-15)
    return mono, True


def check_samples(mono: np.ndarray) -> str | None:
    """Why decoded samples cannot be used (a REASON_* string), or None when they can."""
    if not mono.size:
        return None
    peak = float(np.max(np.abs(mono)))  # NaN propagates through max: one pass checks both
    if not math.isfinite(peak):
        return REASON_NON_FINITE
    if peak > MAX_ABS_SAMPLE:
        return REASON_OUT_OF_RANGE
    return None


def decode(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` whole as mono float32 at its own rate: ``(samples (S,), sample_rate)``.

    Multichannel audio is mixed down by averaging channels. Long files are better streamed
    (:mod:`audiogan.data.stream`): this holds the whole file in memory.

    :param max_seconds: refuse (without decoding) files whose header says they are longer;
        None (the default) for no limit.
    :raises AudioFileError: zero-length, non-audio, corrupt, empty, non-finite or too long files.
    """
    path = Path(path)
    handle = open_audio(path)
    try:
        with handle:
            rate = handle.samplerate
            # The header's frame count is checked before reading: decoding is all in memory.
            if max_seconds is not None and handle.frames > max_seconds * rate:
                raise AudioFileError(
                    path,
                    REASON_TOO_LONG,
                    f"{handle.frames / rate:.0f} s > {max_seconds:g} s; split it into shorter files",
                )
            mono, checked = read_mono(handle, -1)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as exc:
        raise _read_error(path, exc) from None
    if mono.shape[0] == 0:
        raise AudioFileError(path, REASON_NO_FRAMES)
    bad = None if checked else check_samples(mono)
    if bad is not None:
        detail = f"peak {float(np.abs(mono).max()):.3g}" if bad == REASON_OUT_OF_RANGE else ""
        raise AudioFileError(path, bad, detail)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


_RESAMPLERS: dict[tuple[int, int], BandedResampler] = {}
_RESAMPLERS_LOCK = threading.Lock()


# torchaudio's polyphase kernel has (new/g) x (orig/g + 2*width) taps (g = gcd of the rates): an
# odd rate such as 44101 Hz -> 16000 Hz needs ~700 M taps (2.8 GB), and a corrupt header can ask
# for any rate. Above this many taps the source rate is rounded to a nearby "round" rate first.
_MAX_KERNEL = 1 << 22
_SNAP_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)


def _kernel_taps(orig: int, new: int) -> int:
    g = math.gcd(orig, new)
    return (new // g) * (orig // g + 12 * max(1, -(-orig // new)))


def resample_source_rate(orig_rate: int, new_rate: int) -> int:
    """The source rate actually used to resample ``orig_rate`` -> ``new_rate``.

    Normally ``orig_rate`` itself; for rates whose exact polyphase kernel would be huge (odd or
    corrupt rates), the nearest multiple of the smallest step in 1, 2, 5, 10, ... Hz that keeps the
    kernel small (e.g. 44101 -> 44100 Hz; the duration changes by the same tiny fraction).
    """
    orig, new = max(1, int(orig_rate)), max(1, int(new_rate))
    for step in _SNAP_STEPS:
        snapped = max(step, round(orig / step) * step)
        if _kernel_taps(snapped, new) <= _MAX_KERNEL:
            return snapped
    return new  # pathological (rates far apart): leave the samples as they are


def resampler(orig_rate: int, new_rate: int) -> BandedResampler:
    """The (cached) windowed-sinc resampler from ``orig_rate`` to ``new_rate``; works on (..., S).

    torchaudio's filter (``transforms.Resample`` with its defaults), computed as banded matrix
    products: see :mod:`audiogan.data.resample`.

    The kernel is bounded in size: see :func:`resample_source_rate`.
    """
    key = (resample_source_rate(orig_rate, new_rate), int(new_rate))
    with _RESAMPLERS_LOCK:
        module = _RESAMPLERS.get(key)
        if module is None:
            module = _RESAMPLERS[key] = BandedResampler(*key)
    return module


def resample(audio: np.ndarray | torch.Tensor, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample mono float32 audio with torchaudio's windowed-sinc filter (cached per rate pair)."""
    if orig_rate == new_rate:
        return np.asarray(audio, dtype=np.float32)
    module = resampler(orig_rate, new_rate)
    tensor = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    with torch.inference_mode():
        out = module(tensor)
    return out.numpy().astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> np.ndarray:
    """Load ``path`` as mono float32 ``(S,)``, resampled to ``sample_rate`` when given.

    :raises AudioFileError: (a DataError) naming the file when it cannot be used.
    """
    audio, rate = decode(path)
    if sample_rate is not None and sample_rate != rate:
        audio = resample(audio, rate, int(sample_rate))
    return audio


_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    format: str = "wav",
    subtype: str = "PCM_16",
) -> Path:
    """Write mono (S,) or multichannel (S, C) audio atomically; samples are clipped to [-1, 1].

    :param format: ``"wav"`` (default), ``"flac"`` or ``"ogg"``.
    :param subtype: soundfile subtype: ``"PCM_16"`` (default), ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``...
    :return: the written path.
    :raises DataError: naming the file for an unknown format/subtype or an I/O failure.
    """
    path = Path(path)
    fmt = _FORMATS.get(format.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown audio format {format!r}; choose one of {', '.join(_FORMATS)}")
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    data = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    if not sf.check_format(fmt, subtype):
        raise DataError(f"{path}: subtype {subtype!r} cannot be written as {fmt}")
    try:
        with atomic_path(path) as tmp:
            sf.write(tmp, data, int(sample_rate), subtype=subtype, format=fmt)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataError(f"{path}: cannot write audio: {exc}") from None
    return path
