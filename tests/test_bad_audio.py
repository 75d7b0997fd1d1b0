"""Broken and odd audio files: each is used correctly or skipped with its reason; scans never crash/hang."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from badfiles import USED, write_bad_corpus, write_long_file

from audiogan.config import FeatureConfig
from audiogan.data import audio
from audiogan.data.dataset import load_dataset
from audiogan.errors import DataError

FC = FeatureConfig(sample_rate=16000, n_fft=256, hop_length=128, n_mels=16)


@pytest.fixture(autouse=True)
def _one_thread_and_watchdog():
    # A hang (a FIFO read, a symlink loop) must fail the test, not stall the suite.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def _hung(signum, frame):  # pragma: no cover - only runs when something hangs
        raise TimeoutError("bad-input handling hung for 120 s")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    return write_bad_corpus(base / "root", base / "outside")


def _check_outcomes(ds, corpus) -> dict[str, str]:
    outcome = {rel: USED for rel in ds.files}
    for rel, reason in ds.skipped:
        assert rel not in outcome, f"{rel} both used and skipped"
        outcome[rel] = reason
    for rel in corpus.absent:
        assert rel not in outcome, f"{rel} should not be listed at all"
    assert set(outcome) == set(corpus.expected), set(outcome) ^ set(corpus.expected)
    for rel, allowed in corpus.expected.items():
        got = outcome[rel]
        if allowed == USED:
            assert got == USED, f"{rel}: expected to be used, skipped: {got}"
        else:
            assert any(part in got for part in allowed), f"{rel}: {got!r} not one of {allowed}"
    return outcome


def test_every_bad_file_is_used_or_skipped_with_its_reason(corpus):
    ds = load_dataset(corpus.root, FC, workers=1, progress=False)
    outcome = _check_outcomes(ds, corpus)
    assert ds.class_names == ["good", "odd"]
    for i in range(len(ds)):
        clip = ds.clip(i)
        assert clip.dtype == np.float32 and clip.ndim == 2 and clip.shape[1] == FC.n_mels
        assert np.isfinite(clip).all(), ds.files[i]
    assert np.isfinite(ds.feature_config.mel_mean).all() and np.isfinite(ds.feature_config.mel_std).all()
    # a cache hit reports exactly the same outcomes (reasons are cached, files not re-read)
    again = load_dataset(corpus.root, FC, workers=1, progress=False)
    assert again.build["cache_hit"]
    assert _check_outcomes(again, corpus) == outcome
    print(
        f"bad-audio corpus: {len(corpus.expected) + len(corpus.absent)} inputs, "
        f"{len(ds.files)} used, {len(ds.skipped)} skipped with reasons"
    )


def test_parallel_workers_give_the_same_outcomes(corpus, tmp_path):
    serial = load_dataset(corpus.root, FC, workers=1, progress=False, cache_dir=tmp_path / "a")
    parallel = load_dataset(corpus.root, FC, workers=2, progress=False, cache_dir=tmp_path / "b")
    assert parallel.files == serial.files and parallel.skipped == serial.skipped
    for i in range(len(serial)):
        np.testing.assert_array_equal(serial.clip(i), parallel.clip(i))


def test_each_file_loads_or_raises_a_one_line_error_naming_it(corpus):
    handled = 0
    for rel, allowed in corpus.expected.items():
        path = corpus.root / rel
        if Path(path).is_dir() or "escape" in rel:
            continue  # folders and links outside are scan decisions, not decoder input
        try:
            samples = audio.load_audio(path, sample_rate=16000)
        except audio.AudioFileError as exc:
            message = str(exc)
            assert "\n" not in message and str(path) in message
            assert exc.reason in message
            assert allowed != USED, f"{rel}: {message}"
        else:
            assert samples.dtype == np.float32 and samples.ndim == 1 and np.isfinite(samples).all()
        handled += 1
    assert handled >= 35


def test_whole_file_decode_can_refuse_long_files_from_the_header(tmp_path):
    # Extraction streams long files (tests/test_stream.py); decode() reads whole and takes a limit.
    path = write_long_file(tmp_path / "hour.wav", 3600.0, rate=8000)
    with pytest.raises(DataError, match=r"hour\.wav: longer than the duration limit \(3600 s > 600 s"):
        audio.decode(path, max_seconds=600)
    short = write_long_file(tmp_path / "short.wav", 2.0, rate=8000)
    with pytest.raises(DataError, match="longer than"):
        audio.decode(short, max_seconds=1.0)
    samples, rate = audio.decode(short)
    assert rate == 8000 and samples.shape == (16000,)


def test_a_folder_of_only_bad_files_is_one_clear_error(tmp_path):
    root = tmp_path / "junk"
    root.mkdir()
    (root / "a.wav").write_bytes(b"")
    (root / "b.wav").write_bytes(b"garbage" * 10)
    (root / "c.flac").write_bytes(b"RIFF" + b"\x00" * 64)
    with pytest.raises(DataError) as info:
        load_dataset(root, FC, workers=1, progress=False)
    message = str(info.value)
    assert "\n" not in message and str(root) in message and "skipped 3 files" in message
    assert "zero bytes" in message and "not an audio file" in message
