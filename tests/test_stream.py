"""Streaming extraction: any length in blocks, features equal to the whole-file path, damage
mid-stream keeps what came before it. (Memory and speed: benchmarks/stream.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.config import FeatureConfig
from audiogan.data import audio, cache, stream
from audiogan.data.dataset import load_dataset
from audiogan.data.extract import extract
from audiogan.data.stream import StreamResult, stream_log_mel


def noisy_tone(path: Path, seconds: float, rate: int, channels: int = 1, subtype: str = "FLOAT") -> Path:
    rng = np.random.default_rng(3)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)) / 2
    x = x[:, None] + 0.02 * rng.standard_normal((n, channels))
    sf.write(path, x.astype(np.float32), rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("rate", "channels", "layout", "subtype"),
    [
        (44100, 2, {}, "FLOAT"),  # the common case: resampled, stereo
        (44100, 2, {}, "PCM_16"),  # the same, read as integers
        (48000, 1, {}, "PCM_16"),  # a resampler that merges strides
        (16000, 1, {}, "FLOAT"),  # no resampling
        (22050, 1, {"sample_rate": 8000, "n_fft": 511, "hop_length": 100, "n_mels": 20}, "FLOAT"),  # odd FFT
        (44101, 1, {}, "FLOAT"),  # an odd rate the resampler rounds to a nearby one first
    ],
)
def test_streamed_features_equal_the_whole_file(tmp_path, rate, channels, layout, subtype):
    path = noisy_tone(tmp_path / "take.wav", 3.3, rate, channels, subtype)
    fc = FeatureConfig(**layout)
    whole, seconds, reason = extract(path, fc)
    result = StreamResult()
    blocks = list(stream_log_mel(path, fc, result, block_seconds=0.05))  # ~66 block edges
    assert reason is None and len(blocks) > 30
    streamed = np.concatenate(blocks)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-4)  # log-mel, float32 kernels on other lengths
    assert result.problem is None and result.seconds == pytest.approx(seconds)


def test_long_files_are_streamed_into_the_cache(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "take").mkdir(parents=True)
    (root / "hit").mkdir()
    long = noisy_tone(root / "take" / "long.wav", 4.0, 44100, channels=2)
    noisy_tone(root / "hit" / "short.wav", 0.5, 16000)
    streamed = []
    real = cache.stream_log_mel

    def recording(path, *args, **kwargs):  # the real streamer; only which files it saw is kept
        streamed.append(Path(path).name)
        yield from real(path, *args, **kwargs)

    monkeypatch.setattr(audio, "STREAM_SECONDS", 2.0)  # so a 4-s file counts as long here
    monkeypatch.setattr(cache, "stream_log_mel", recording)
    fc = FeatureConfig(n_mels=40)
    data = load_dataset(root, fc, progress=False)
    assert streamed == ["long.wav"] and data.files == ["hit/short.wav", "take/long.wav"]
    whole, _, _ = extract(long, fc)
    np.testing.assert_allclose(data.log_mel(1), whole, atol=1e-4)
    assert data.seconds[1] == pytest.approx(4.0)


def test_a_file_damaged_mid_stream_gives_what_came_before(tmp_path, monkeypatch):
    path = noisy_tone(tmp_path / "cut.flac", 4.0, 16000, subtype="PCM_16")
    with open(path, "r+b") as handle:  # a copy that stopped half-way: the FLAC header still says 4 s
        handle.truncate(path.stat().st_size // 2)
    result = StreamResult()
    frames = np.concatenate(list(stream_log_mel(path, FeatureConfig(), result, block_seconds=0.25)))
    assert 0.5 < result.seconds < 3.5 and np.isfinite(frames).all()
    assert frames.shape[0] == pytest.approx(result.seconds * 16000 / 256, abs=8)
    assert result.problem.startswith(f"{audio.REASON_UNREADABLE} after {result.seconds:.1f} s of 4.0 s")
    assert result.problem.endswith("the rest is left out")

    root = tmp_path / "data"
    root.mkdir()
    path.rename(root / "cut.flac")
    noisy_tone(root / "whole.wav", 0.5, 16000)
    monkeypatch.setattr(audio, "STREAM_SECONDS", 1.0)
    data = load_dataset(root, FeatureConfig(), progress=False)
    assert data.files == ["cut.flac", "whole.wav"]  # used: what was read counts
    [(rel, reason)] = [item for item in data.skipped if item[0] == "cut.flac"]
    assert reason.startswith(f"partly used: {audio.REASON_UNREADABLE} after")


def test_corrupt_samples_mid_stream_stop_there(tmp_path):
    path = tmp_path / "nan.wav"
    x = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32)
    x[int(2.5 * 16000)] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    result = StreamResult()
    frames = np.concatenate(list(stream_log_mel(path, FeatureConfig(), result, block_seconds=0.5)))
    assert np.isfinite(frames).all()
    assert result.seconds == pytest.approx(2.5) and frames.shape[0] >= 2.4 * 16000 / 256
    assert result.problem.startswith(f"{audio.REASON_NON_FINITE} after 2.5 s of 3.0 s")


def test_a_file_bad_from_the_start_is_still_an_error(tmp_path):
    path = tmp_path / "bad.wav"
    sf.write(path, np.full(8000, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    with pytest.raises(audio.AudioFileError) as caught:
        list(stream_log_mel(path, FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16)))
    assert caught.value.reason == audio.REASON_NON_FINITE


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audiogan-read"]


def test_a_stream_stopped_early_closes_its_file_and_its_reader_thread(tmp_path, monkeypatch):
    path = noisy_tone(tmp_path / "long.wav", 3.0, 44100, 2)
    opened = []
    real_open = audio.open_audio

    def open_and_remember(p):
        opened.append(real_open(p))
        return opened[-1]

    monkeypatch.setattr(audio, "open_audio", open_and_remember)
    blocks = stream_log_mel(path, FeatureConfig(), block_seconds=0.1)
    assert next(blocks).shape[1] == FeatureConfig().n_mels
    blocks.close()
    assert opened and opened[0].closed
    assert not _reader_threads()


def test_an_error_in_the_reader_thread_reaches_the_caller():
    def failing():
        yield 1
        raise KeyError("in the worker")

    items = stream._in_background(failing())
    assert next(items) == 1
    with pytest.raises(KeyError, match="in the worker"):
        next(items)
    assert not _reader_threads()
