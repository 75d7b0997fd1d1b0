"""Property-based fuzzing of the decoder entry: random bytes and valid-but-odd WAV headers.

The only documented outcomes of :func:`audiogan.data.audio.load_audio` / :func:`audiogan.data.extract.extract`
are a finite float32 result or an :class:`~audiogan.data.audio.AudioFileError` (one line, naming the
file, with a stable reason). Anything else (another exception, a crash, a hang) is a bug.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiogan.config import FeatureConfig
from audiogan.data import audio
from audiogan.data.extract import extract

FC = FeatureConfig(sample_rate=16000, n_fft=256, hop_length=128, n_mels=16)
REASONS = {
    audio.REASON_EMPTY,
    audio.REASON_NOT_AUDIO,
    audio.REASON_UNREADABLE,
    audio.REASON_NO_FRAMES,
    audio.REASON_NON_FINITE,
    audio.REASON_TOO_LONG,
    audio.REASON_OUT_OF_RANGE,
}
CASES = {"bytes": 0, "header": 0}
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_DIR = Path(tempfile.mkdtemp(prefix="audiogan-fuzz-"))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    shutil.rmtree(_DIR, ignore_errors=True)
    print(f"fuzz cases run: {CASES}")


def _check(path: Path) -> None:
    try:
        samples = audio.load_audio(path, sample_rate=16000)
    except audio.AudioFileError as exc:
        assert exc.reason in REASONS and "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert samples.dtype == np.float32 and samples.ndim == 1 and np.isfinite(samples).all()
    frames, seconds, reason = extract(path, FC)  # the cache builder's entry: never raises
    if frames is None:
        assert reason is not None and any(reason.startswith(r) for r in REASONS)
    else:
        assert reason is None and frames.shape[1] == FC.n_mels and np.isfinite(frames).all() and seconds > 0


@SETTINGS
@given(
    data=st.binary(max_size=2048),
    suffix=st.sampled_from([".wav", ".flac", ".ogg", ".aiff", ".mp3"]),
    magic=st.sampled_from([b"", b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3", b"\xff\xfb"]),
)
def test_random_bytes(data: bytes, suffix: str, magic: bytes) -> None:
    path = _DIR / f"bytes{suffix}"
    path.write_bytes(magic + data)
    CASES["bytes"] += 1
    _check(path)


@st.composite
def odd_wav(draw) -> bytes:
    """A RIFF/WAVE file with plausible-but-odd header fields and a payload of any length."""
    fmt_tag = draw(st.sampled_from([1, 3, 6, 7, 0xFFFE, 0, 2, 0x55]))
    channels = draw(st.sampled_from([0, 1, 2, 3, 8, 255, 65535]))
    rate = draw(st.sampled_from([0, 1, 8, 1000, 8000, 44100, 96000, 384000, 2**31 - 1, 2**32 - 1]))
    bits = draw(st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535]))
    block = draw(st.one_of(st.just(max(1, channels * bits // 8) & 0xFFFF), st.integers(0, 65535)))
    n_payload = draw(st.integers(0, 4000))
    claimed = draw(st.one_of(st.just(n_payload), st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["zeros", "random", "nan", "loud"]))
    if kind == "zeros":
        payload = bytes(n_payload)
    elif kind == "random":
        payload = draw(st.binary(min_size=n_payload, max_size=n_payload))
    elif kind == "nan":
        payload = (np.full(n_payload // 4, np.nan, dtype="<f4")).tobytes()
    else:
        payload = (np.full(n_payload // 4, 1e30, dtype="<f4")).tobytes()
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    riff = struct.pack("<I", (36 + claimed) & 0xFFFFFFFF)
    return (
        b"RIFF"
        + riff
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", claimed)
        + payload
    )


@SETTINGS
@given(data=odd_wav())
def test_odd_wav_headers(data: bytes) -> None:
    path = _DIR / "header.wav"
    path.write_bytes(data)
    CASES["header"] += 1
    _check(path)


def test_odd_rates_resample_with_a_bounded_kernel(tmp_path):
    # Regressions found by this fuzzer: 44101 Hz -> 16 kHz built a 2.8 GB kernel (the process
    # was OOM-killed); a float payload of 1e30 gave NaN log-mel that went into the cache.
    for rate in (44101, 22051, 96001, 2**31 - 1, 1, 7):
        used = audio.resample_source_rate(rate, 16000)
        assert audio._kernel_taps(used, 16000) <= audio._MAX_KERNEL
        assert abs(used - rate) <= max(0.01 * rate, 16000)
    assert audio.resample_source_rate(44100, 16000) == 44100  # ordinary rates stay exact
    samples = np.sin(np.arange(44101) / 10).astype(np.float32)
    out = audio.resample(samples, 44101, 16000)
    assert abs(out.shape[0] - 16000) <= 1 and np.isfinite(out).all()
