"""Folder dataset: labels, skips, the feature cache (reuse, invalidation, interruption) and the sampler."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.config import FeatureConfig
from audiogan.data import audio, cache
from audiogan.data.audio import load_audio
from audiogan.data.dataset import SequenceSampler, load_dataset
from audiogan.data.extract import extract, extract_many
from audiogan.errors import DataError
from audiogan.features import MelFrontEnd

FC = FeatureConfig(sample_rate=16000, n_fft=256, hop_length=128, n_mels=16)


def tone(
    path: Path, seconds: float = 0.3, rate: int = 16000, freq: float = 440.0, channels: int = 1, **kw
) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.4 * np.sin(2 * np.pi * freq * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), rate, **kw)
    return path


def load(root, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("workers", 1)
    return load_dataset(root, FC, **kw)


def test_labels_from_first_level_subfolders(synthetic_corpus):
    ds = load(synthetic_corpus)
    assert ds.class_names == ["chirp", "drums", "pluck"]
    assert ds.files == sorted(ds.files) and len(ds) == 12
    assert ds.class_counts() == {"chirp": 4, "drums": 4, "pluck": 4}
    assert [ds.class_names[i] for i in ds.labels] == [f.split("/")[0] for f in ds.files]
    assert ds.labels.dtype == np.int64 and ds.num_classes == 3
    assert ds.total_seconds == pytest.approx(6.0)
    clip = ds.clip(0)
    assert clip.dtype == np.float32 and clip.shape == (8000 // FC.hop_length + 1, FC.n_mels)
    # statistics cover all usable frames: normalised data has mean 0 and std 1/norm_scale per bin
    every = np.concatenate([ds.clip(i) for i in range(len(ds))])
    np.testing.assert_allclose(every.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(every.std(axis=0), 1 / FC.norm_scale, rtol=1e-2)
    assert ds.feature_config.has_stats and not FC.has_stats  # the input config is not modified


def test_unlabelled_and_mixed_folders(tmp_path):
    flat = tmp_path / "flat"
    for i in range(3):
        tone(flat / f"{i}.wav", rate=8000)
    ds = load(flat)
    assert ds.class_names == [] and ds.num_classes == 0 and (ds.labels == -1).all()
    tone(flat / "sub" / "a.wav", rate=44100, channels=2, subtype="PCM_24")
    ds = load(flat)
    assert ds.files == ["sub/a.wav"] and ds.class_names == ["sub"]
    assert sorted(ds.skipped) == [(f"{i}.wav", cache.REASON_UNLABELLED) for i in range(3)]


def test_hidden_symlinks_and_loops(tmp_path):
    root = tmp_path / "data"
    tone(root / "a" / "x.wav")
    tone(root / "a" / ".hidden.wav")
    tone(root / ".secret" / "y.wav")
    outside = tone(tmp_path / "outside" / "z.wav")
    os.symlink(outside, root / "a" / "link.wav")
    os.symlink(tmp_path / "outside", root / "b")
    os.symlink(root / "a", root / "a" / "loop")  # a loop back into the tree
    (root / "a" / "notes.txt").write_text("ignored: not an audio extension")
    ds = load(root)
    assert ds.files == ["a/x.wav"]
    assert dict(ds.skipped) == {"a/link.wav": cache.REASON_OUTSIDE, "b": cache.REASON_OUTSIDE}


def test_broken_files_are_skipped_with_reasons(tmp_path):
    root = tmp_path / "data"
    good = tone(root / "k" / "good.wav")
    (root / "k" / "zero.wav").write_bytes(b"")
    (root / "k" / "text.wav").write_text("hello")
    (root / "k" / "trunc.flac").write_bytes(tone(tmp_path / "t.flac").read_bytes()[:40])
    tone(root / "k" / "tiny.wav", seconds=0.01)
    ds = load(root)
    assert ds.files == ["k/good.wav"]
    reasons = dict(ds.skipped)
    assert reasons["k/zero.wav"] == "zero bytes"
    assert reasons["k/text.wav"] == "not an audio file"
    assert reasons["k/trunc.flac"].startswith("unreadable")
    assert reasons["k/tiny.wav"].startswith(cache.REASON_TOO_SHORT)
    # min_seconds is applied after caching: lowering it needs no decoding
    ds = load(root, min_seconds=0.0)
    assert "k/tiny.wav" in ds.files and ds.build["decoded"] == 0
    good.unlink()
    with pytest.raises(DataError) as info:
        load(root)
    message = str(info.value)
    assert str(root) in message and ".wav" in message and ".flac" in message
    assert "1 zero bytes" in message and "1 not an audio file" in message and "4 files" in message
    assert "\n" not in message


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio files in .*empty"):
        load(tmp_path / "empty")


def test_cache_reuse_and_invalidation(synthetic_corpus, tmp_path):
    first = load(synthetic_corpus)
    assert first.build["decoded"] == 12
    assert first.cache_dir == synthetic_corpus / ".audiogan-cache" / FC.layout_key()
    again = load(synthetic_corpus)
    assert again.build["cache_hit"] and (again.build["decoded"], again.build["reused"]) == (0, 12)
    assert not first.build["cache_hit"]
    np.testing.assert_array_equal(again.clip(5), first.clip(5))
    assert isinstance(again.data, np.memmap)

    touched = synthetic_corpus / first.files[0]
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ds = load(synthetic_corpus)
    assert (ds.build["decoded"], ds.build["reused"]) == (1, 11)
    np.testing.assert_array_equal(ds.clip(3), first.clip(3))

    (synthetic_corpus / first.files[1]).unlink()
    tone(synthetic_corpus / "chirp" / "new.wav", seconds=0.5)
    ds = load(synthetic_corpus)
    assert (ds.build["decoded"], ds.build["reused"]) == (1, 11)  # 11 kept, 1 new
    assert first.files[1] not in ds.files and "chirp/new.wav" in ds.files
    folder = ds.cache_dir
    assert len(list(folder.glob("features-*.f32"))) == 1  # the superseded array is gone
    # a different layout gets its own cache; an explicit cache_dir is honoured
    other = load_dataset(synthetic_corpus, FeatureConfig(n_fft=256, hop_length=64, n_mels=8), progress=False)
    assert other.cache_dir != folder and other.build["decoded"] == 12
    ext = load(synthetic_corpus, cache_dir=tmp_path / "elsewhere")
    assert ext.cache_dir.parent == tmp_path / "elsewhere" and ext.build["decoded"] == 12


def test_cache_made_by_other_extraction_code_is_rebuilt(synthetic_corpus, monkeypatch):
    from audiogan.data import cache as cache_module

    assert load(synthetic_corpus).build["decoded"] == 12
    assert load(synthetic_corpus).build["decoded"] == 0
    # The same files, the same layout, but features made by different code: all decoded again.
    monkeypatch.setattr(cache_module, "EXTRACTOR_VERSION", "0000000000000000")
    assert load(synthetic_corpus).build["decoded"] == 12


def test_extractor_version_follows_the_code_not_its_comments(tmp_path, monkeypatch):
    from audiogan.data import extract as extract_module

    copy = tmp_path / "extract.py"
    source = Path(extract_module.__file__).read_text(encoding="utf-8")
    copy.write_text(source)
    monkeypatch.setattr(extract_module, "__file__", str(copy))
    before = extract_module.extractor_version()
    assert before == extract_module.EXTRACTOR_VERSION
    copy.write_text(source + "\n# a comment changes nothing\n")
    assert extract_module.extractor_version() == before
    copy.write_text(source.replace("_SLACK = 1.25", "_SLACK = 1.5"))
    assert extract_module.extractor_version() != before


def test_read_only_folder_uses_the_user_cache(synthetic_corpus, tmp_path, monkeypatch):
    # root ignores permission bits, so the read-only check itself is what gets faked here
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ds = load(synthetic_corpus)
    assert ds.cache_dir.parent == tmp_path / "xdg" / "audiogan" and len(ds) == 12
    assert not (synthetic_corpus / ".audiogan-cache").exists()


def test_folder_without_write_bits_is_left_alone_even_by_root(synthetic_corpus, tmp_path, monkeypatch):
    # A shared data set (or CI's copy of it) is marked read-only; root could still write into it.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    mode = synthetic_corpus.stat().st_mode
    synthetic_corpus.chmod(0o555)
    try:
        ds = load(synthetic_corpus)
    finally:
        synthetic_corpus.chmod(mode)
    assert ds.cache_dir.parent == tmp_path / "xdg" / "audiogan" and len(ds) == 12
    assert not (synthetic_corpus / ".audiogan-cache").exists()


def test_interrupted_build_never_reads_as_complete(synthetic_corpus, monkeypatch):
    ds = load(synthetic_corpus)
    manifest = (ds.cache_dir / cache.MANIFEST).read_text()
    for f in ds.files[:3]:
        (synthetic_corpus / f).write_bytes((synthetic_corpus / f).read_bytes())  # new mtime
    calls = {"n": 0}
    real_decode = audio.decode

    def dies_midway(path):  # fault injection: the build is killed after one file
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt
        return real_decode(path)

    monkeypatch.setattr(audio, "decode", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        load(synthetic_corpus)
    monkeypatch.undo()
    # the old complete cache is still the one in force, and no partial array is left
    assert (ds.cache_dir / cache.MANIFEST).read_text() == manifest
    assert not list(ds.cache_dir.glob(".*.tmp"))
    resumed = load(synthetic_corpus)
    assert (resumed.build["decoded"], resumed.build["reused"]) == (3, 9)


def test_damaged_cache_is_rebuilt(synthetic_corpus):
    ds = load(synthetic_corpus)
    manifest = json.loads((ds.cache_dir / cache.MANIFEST).read_text())
    data = ds.cache_dir / manifest["data"]
    data.write_bytes(data.read_bytes()[:100])  # a truncated array must never be trusted
    with pytest.warns(UserWarning, match="damaged feature cache"):
        again = load(synthetic_corpus)
    assert again.build["decoded"] == 12
    # a stray array without a manifest (killed before the manifest landed) reads as no cache
    (again.cache_dir / cache.MANIFEST).unlink()
    assert cache.read_cache(again.cache_dir, FC) is None
    assert load(synthetic_corpus).build["decoded"] == 12


def test_parallel_build_matches_serial(tmp_path):
    root = tmp_path / "many"
    rng = np.random.default_rng(0)
    for i in range(70):  # enough files for the process pool to be used
        tone(root / f"c{i % 2}" / f"{i:02d}.wav", seconds=0.06, freq=float(rng.uniform(200, 2000)))
    serial = load(root, cache_dir=tmp_path / "s", workers=1)
    parallel = load(root, cache_dir=tmp_path / "p", workers=2)
    assert parallel.files == serial.files
    for i in (0, 33, 69):
        np.testing.assert_array_equal(parallel.log_mel(i), serial.log_mel(i))


def lengths_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "lens"
    for i in range(6):
        tone(root / "long" / f"{i}.wav", seconds=0.5)  # 63 frames
    tone(root / "short" / "a.wav", seconds=0.1)  # 13 frames
    tone(root / "short" / "b.wav", seconds=0.4)  # 51 frames
    return root


def test_sampler_is_seeded_balanced_and_resumable(tmp_path):
    ds = load(lengths_corpus(tmp_path))
    sampler = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=3)
    batch = next(sampler)
    assert batch.frames.shape == (64, 20, FC.n_mels) and batch.frames.dtype == torch.float32
    assert batch.labels.dtype == torch.int64 and batch.mask.all()
    # class-balanced despite 6 long vs 1 usable short clip
    counts = np.bincount(torch.cat([batch.labels, next(sampler).labels]).numpy(), minlength=2)
    assert counts.min() > 40
    # short clip a.wav (13 frames) is never drawn without pad_short
    short_index = ds.files.index("short/a.wav")
    assert short_index not in sampler.eligible

    same = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=3)
    torch.testing.assert_close(next(same).frames, batch.frames)
    other = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=4)
    assert not torch.equal(next(other).frames, batch.frames)
    rank1 = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=3, rank=1, world_size=2)
    rank0 = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=3, rank=0, world_size=2)
    assert not torch.equal(next(rank1).frames, next(rank0).frames)

    state = sampler.state_dict()
    expected = [next(sampler) for _ in range(3)]
    resumed = SequenceSampler(ds, batch_size=64, seq_frames=20, seed=0)
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next_batch()
        torch.testing.assert_close(got.frames, want.frames)
        torch.testing.assert_close(got.labels, want.labels)


def test_sampler_pads_short_clips_when_asked(tmp_path):
    ds = load(lengths_corpus(tmp_path))
    with pytest.raises(DataError, match="class 'short' .* no clip of 55 frames"):
        SequenceSampler(ds, batch_size=4, seq_frames=55)
    with pytest.raises(DataError, match="no clip .* has 100 frames .*pad_short"):
        SequenceSampler(ds, batch_size=4, seq_frames=100)
    sampler = SequenceSampler(ds, batch_size=256, seq_frames=55, pad_short=True, balance=False)
    batch = next(sampler)
    real = batch.mask.sum(dim=1)
    assert set(real.tolist()) <= {13, 51, 55} and 13 in real.tolist()
    row = int(np.argmax(real.numpy() == 13))
    assert batch.mask[row, :13].all() and not batch.mask[row, 13:].any()
    silence = torch.from_numpy(ds.silence)
    torch.testing.assert_close(batch.frames[row, 13:], silence.expand(42, -1))
    assert next(iter(SequenceSampler(ds, 2, 8, balance=False))).labels is not None


def test_sampler_warns_when_most_clips_are_too_short(tmp_path):
    tone(tmp_path / "w" / "long.wav", seconds=0.5)
    for i in range(3):
        tone(tmp_path / "w" / f"short{i}.wav", seconds=0.1)
    ds = load(tmp_path / "w")
    with pytest.warns(UserWarning, match="only 1 of 4 clips .* 20 frames or more"):
        SequenceSampler(ds, batch_size=4, seq_frames=20)


def test_unlabelled_sampler_has_no_labels(tmp_path):
    for i in range(2):
        tone(tmp_path / "u" / f"{i}.wav")
    ds = load(tmp_path / "u")
    batch = next(SequenceSampler(ds, batch_size=3, seq_frames=10))
    assert batch.labels is None and batch.frames.shape == (3, 10, FC.n_mels)
    assert batch.to("cpu").frames.shape == (3, 10, FC.n_mels)


def test_batched_extraction_equals_one_by_one(tmp_path):
    rates = (8000, 8000, 8000, 8000, 44100, 16000, 8000)
    lengths = (0.3, 0.33, 0.05, 0.36, 0.31, 0.3, 0.2)
    paths = [
        str(tone(tmp_path / f"{i}.wav", seconds=s, rate=r)) for i, (s, r) in enumerate(zip(lengths, rates))
    ]
    paths.append(str(tmp_path / "missing.wav"))
    together = extract_many(paths, FC)
    assert together[-1][0] is None and together[-1][2].startswith("unreadable")
    for path, (frames, seconds, reason) in zip(paths[:-1], together):
        alone, alone_seconds, _ = extract(path, FC)
        assert reason is None and seconds == alone_seconds
        assert frames.shape == alone.shape == (round(seconds * 16000) // FC.hop_length + 1, FC.n_mels)
        # and the same as the public front end applied to load_audio's output; compared as
        # magnitudes since float noise near the floor (1e-5) is large in log terms
        reference = MelFrontEnd(FC).log_mel(torch.from_numpy(load_audio(path, 16000)))[0].numpy()
        for other in (alone, reference):
            np.testing.assert_allclose(np.exp(frames), np.exp(other), rtol=1e-3, atol=1e-5)


def _build_in_child(root: str) -> int:
    # a forked child must not use the parent's OpenMP pool (it does not survive fork)
    torch.set_num_threads(1)
    return len(load_dataset(root, FC, progress=False, workers=1))


def test_concurrent_builds_both_succeed(synthetic_corpus):
    # two processes (e.g. two DDP ranks) building the same cache at once
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_build_in_child, [str(synthetic_corpus)] * 2) == [12, 12]
    again = load(synthetic_corpus)
    assert again.build["cache_hit"]
    assert len(list(again.cache_dir.glob("features-*.f32"))) == 1
