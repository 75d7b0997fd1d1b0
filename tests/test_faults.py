"""Faults: disk full while writing checkpoints and WAVs, caches damaged behind our back, SIGKILL + resume."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from badfiles import TINY_SR, tiny_config

from audiogan import fileio
from audiogan.checkpoint import load_checkpoint, save_checkpoint
from audiogan.cli import main
from audiogan.config import FeatureConfig, to_toml
from audiogan.data import cache
from audiogan.data.audio import write_audio
from audiogan.data.dataset import load_dataset
from audiogan.errors import CheckpointError, DataError

FC = FeatureConfig(sample_rate=16000, n_fft=256, hop_length=128, n_mels=16)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def disk_full_when(monkeypatch, predicate) -> list[str]:
    """Make ``os.fsync`` fail with ENOSPC for files whose name satisfies ``predicate`` (as a full disk
    does at the latest at fsync); returns the list of names refused."""
    real = os.fsync
    refused: list[str] = []

    def fsync(fd: int) -> None:
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = ""
        if predicate(os.path.basename(name)):
            refused.append(name)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    return refused


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file() and not p.name.startswith(".lock")]


def test_disk_full_while_saving_a_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "last.pt"
    save_checkpoint(
        {"format": "audiogan-checkpoint", "format_version": 1, "step": 1, "w": torch.ones(3)}, path
    )
    refused = disk_full_when(monkeypatch, lambda name: ".last.pt." in name)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(
            {"format": "audiogan-checkpoint", "format_version": 1, "step": 2, "w": torch.zeros(3)}, path
        )
    message = str(info.value)
    assert refused and "\n" not in message and str(path) in message and "No space left on device" in message
    assert load_checkpoint(path)["step"] == 1  # the previous checkpoint is intact
    assert _leftovers(tmp_path) == []  # no partial temp file left


def test_disk_full_during_training_stops_cleanly(tmp_path, monkeypatch, capsys):
    from audiogan.data.synthetic import write_corpus

    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.4, sample_rate=TINY_SR)
    config = tmp_path / "tiny.toml"
    config.write_text(to_toml(tiny_config(steps=6, checkpoint_every=2)))
    names: list[str] = []

    def second_last_pt(name: str) -> bool:  # the first checkpoint lands, the second hits a full disk
        if ".last.pt." in name and name not in names:
            names.append(name)
        return ".last.pt." in name and name == names[-1] and len(names) >= 2

    refused = disk_full_when(monkeypatch, second_last_pt)
    run = tmp_path / "run"
    code = main(["train", str(corpus), "--run", str(run), "--config", str(config), "--no-progress"])
    err = capsys.readouterr().err
    assert refused and code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("audiogan: error: ") and "No space left on device" in lines[0]
    )
    assert "Traceback" not in err
    assert load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")["step"] == 2
    assert _leftovers(run) == []
    # with space again, the run resumes from the intact checkpoint and finishes
    monkeypatch.undo()
    assert main(["train", str(corpus), "--run", str(run), "--resume", "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")["step"] == 6


def test_disk_full_while_writing_a_wav(tmp_path, monkeypatch):
    path = tmp_path / "out" / "clip.wav"
    write_audio(path, np.full(800, 0.25, dtype=np.float32), 8000)
    before = path.read_bytes()
    disk_full_when(monkeypatch, lambda name: name.startswith(".clip.wav."))
    with pytest.raises(DataError) as info:
        write_audio(path, np.zeros(1600, dtype=np.float32), 8000)
    assert "No space left on device" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []
    disk_full_when(monkeypatch, lambda name: name.startswith(".new.wav."))
    with pytest.raises(DataError):
        write_audio(tmp_path / "out" / "new.wav", np.zeros(1600, dtype=np.float32), 8000)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.wav"]


def _tone(path: Path, freq: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(4800) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)


@pytest.mark.parametrize(
    "damage",
    ["rewrite-same-size", "truncate", "append", "manifest-garbage", "manifest-rows-outside", "array-deleted"],
)
def test_damaged_cache_is_detected_and_rebuilt(tmp_path, damage):
    root = tmp_path / "data"
    for i in range(4):
        _tone(root / f"c{i % 2}" / f"{i}.wav", 200 + 100 * i)
    first = load_dataset(root, FC, workers=1, progress=False)
    clips = [first.clip(i).copy() for i in range(len(first))]
    folder = first.cache_dir
    manifest_path = folder / cache.MANIFEST
    import json

    manifest = json.loads(manifest_path.read_text())
    array = folder / manifest["data"]
    del first
    if damage == "rewrite-same-size":
        array.write_bytes(
            np.random.default_rng(0).standard_normal(array.stat().st_size // 4).astype(np.float32).tobytes()
        )
    elif damage == "truncate":
        with open(array, "r+b") as handle:
            handle.truncate(array.stat().st_size // 2)
    elif damage == "append":
        with open(array, "ab") as handle:
            handle.write(b"\0" * 64)
    elif damage == "manifest-garbage":
        manifest_path.write_text(manifest_path.read_text()[:-40])
    elif damage == "manifest-rows-outside":
        manifest["files"]["offset"] = [o + 10**6 if o is not None else o for o in manifest["files"]["offset"]]
        manifest_path.write_text(json.dumps(manifest))
    else:
        array.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_dataset(root, FC, workers=1, progress=False)
    assert not again.build["cache_hit"] and again.build["decoded"] == 4, damage
    if damage != "array-deleted":
        assert any("cache" in str(w.message) for w in caught), [str(w.message) for w in caught]
    for i, clip in enumerate(clips):
        np.testing.assert_array_equal(again.clip(i), clip)
    assert load_dataset(root, FC, workers=1, progress=False).build["cache_hit"]


def test_sigkill_and_resume_loop(tmp_path):
    """A short version of benchmarks/killloop.py (30+ kills on demand): 2 kills, one mid-write."""
    from benchmarks.killloop import kill_loop

    result = kill_loop(2, tmp_path, seed=1, steps=30, log=lambda *a: None, random_wait=(1.0, 3.0))
    assert result["survived"] == 2 and result["final_step"] == 30
    print(
        f"kill loop: {result['survived']} kills survived ({result['during_checkpoint_write']} during a write)"
    )


def test_disk_full_during_generate_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    from badfiles import train_tiny_run

    _, run = train_tiny_run(tmp_path)
    refused = disk_full_when(monkeypatch, lambda name: name.startswith(".label-") and name.endswith(".wav"))
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            str(run),
            "--out",
            str(out),
            "--per-label",
            "1",
            "--seconds",
            "0.1",
            "--device",
            "cpu",
            "--set",
            "vocoder.n_iter=1",
        ]
    )
    err = capsys.readouterr().err
    assert refused and code == 2 and "Traceback" not in err, err
    assert err.count("\n") == 1 and "No space left on device" in err, err
    assert not out.exists() or _leftovers(out) == []  # no temporary or half-written WAV
    assert not (out / "manifest.json").exists()


@pytest.fixture
def small_disk(tmp_path):
    """A real 512 KiB tmpfs (needs root and mount permission; skipped otherwise)."""
    import shutil
    import subprocess

    mount = shutil.which("mount")
    point = tmp_path / "small"
    point.mkdir()
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(point)], capture_output=True, timeout=20
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=20)


def test_real_full_disk(small_disk):
    path = small_disk / "ckpt" / "last.pt"
    save_checkpoint(
        {"format": "audiogan-checkpoint", "format_version": 1, "step": 1, "w": torch.ones(1000)}, path
    )
    with pytest.raises(
        CheckpointError, match=r"last\.pt: cannot write: No space left on device; the previous file is kept"
    ):
        save_checkpoint(
            {"format": "audiogan-checkpoint", "format_version": 1, "step": 2, "w": torch.ones(300_000)}, path
        )
    assert load_checkpoint(path)["step"] == 1 and _leftovers(small_disk) == []
    wav = small_disk / "clip.wav"
    with pytest.raises(DataError, match=r"clip\.wav: cannot write audio"):
        write_audio(wav, np.zeros(400_000, dtype=np.float32), 8000)
    assert not wav.exists() and _leftovers(small_disk) == []


def test_training_on_a_real_full_disk_stops_cleanly(small_disk, tmp_path, capsys):
    from audiogan.data.synthetic import write_corpus

    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.4, sample_rate=TINY_SR)
    config = tmp_path / "tiny.toml"
    config.write_text(to_toml(tiny_config(steps=400, checkpoint_every=2)))
    run = small_disk / "run"  # 512 KiB: a few 65 KB checkpoints fit, then the disk is full
    code = main(["train", str(corpus), "--run", str(run), "--config", str(config), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.count("\n") == 1 and "No space left on device" in err, err
    step = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")["step"]
    assert 0 < step < 400 and _leftovers(run) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    # atomic writes go through mkstemp (mode 0600); the result must get the umask's mode instead
    mask = os.umask(0o022)
    os.umask(mask)
    write_audio(tmp_path / "a.wav", np.zeros(100, dtype=np.float32), 8000)
    save_checkpoint({"format": "audiogan-checkpoint", "format_version": 1}, tmp_path / "c.pt")
    for name in ("a.wav", "c.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    os.chmod(tmp_path / "c.pt", 0o640)  # a replaced file keeps its mode
    save_checkpoint({"format": "audiogan-checkpoint", "format_version": 1}, tmp_path / "c.pt")
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640
