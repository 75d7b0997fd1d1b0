"""The held-out slice: clips training never samples, on which best.pt is chosen and that generate uses.

Real WAV folders written here; real training steps; the sampler is checked by the clips it draws.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogan.cli import main
from audiogan.config import FeatureConfig
from audiogan.data.dataset import SequenceSampler, load_dataset
from audiogan.data.holdout import holdout_indices

SR = 8000
FC = FeatureConfig(sample_rate=SR, n_fft=256, hop_length=64, n_mels=16)


def write_folder(root: Path, per_class: dict[str, int], seconds: float = 0.3) -> Path:
    """Tones whose pitch encodes the clip (so every clip's frames are its own)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    for c, (name, count) in enumerate(per_class.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            freq = 200.0 + 150.0 * c + 9.0 * i
            wave = 0.4 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / name / f"{name}_{i:02d}.wav", wave.astype(np.float32), SR)
    return root


def test_slice_is_stratified_seeded_and_spares_small_classes(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data", {"big": 40, "mid": 12, "tiny": 6})
    ds = load_dataset(data, FC, progress=False)
    held = holdout_indices(ds, fraction=0.1, max_clips=256, seed=0)
    counts = {name: int((ds.labels[held] == c).sum()) for c, name in enumerate(ds.class_names)}
    assert counts == {"big": 4, "mid": 1, "tiny": 0}  # a class of 6 clips needs all of them
    assert np.array_equal(held, holdout_indices(ds, fraction=0.1, max_clips=256, seed=0))
    assert not np.array_equal(held, holdout_indices(ds, fraction=0.1, max_clips=256, seed=1))
    # the cap is shared between classes
    assert len(holdout_indices(ds, fraction=0.4, max_clips=6, seed=0)) <= 6
    assert len(holdout_indices(ds, fraction=0.0, max_clips=256, seed=0)) == 0


def test_events_of_one_file_stay_on_one_side(tmp_path: Path) -> None:
    """A long take cut into events: the slice takes whole files, so no event of it leaks into training."""
    from audiogan.data.split import SplitSettings

    root = tmp_path / "takes" / "hits"
    root.mkdir(parents=True)
    t = np.arange(int(0.08 * SR)) / SR
    hit = (np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.02)).astype(np.float32)
    for take in range(12):
        gap = np.zeros(int(0.25 * SR), dtype=np.float32)
        sf.write(root / f"take_{take:02d}.wav", np.concatenate([gap, *[np.concatenate([hit, gap])] * 4]), SR)
    ds = load_dataset(tmp_path / "takes", FC, progress=False, split=SplitSettings(method="silence"))
    assert len(ds) > 12  # several events per take
    held = holdout_indices(ds, fraction=0.2, max_clips=256, seed=0)
    assert len(held)
    files = np.asarray([str(f) for f in ds.files])
    held_files = set(files[held])
    trained = np.setdiff1d(np.arange(len(ds)), held)
    assert held_files.isdisjoint(files[trained])


def test_sampler_never_draws_a_held_out_clip(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data", {"a": 20, "b": 20})
    ds = load_dataset(data, FC, progress=False)
    held = holdout_indices(ds, fraction=0.25, max_clips=256, seed=0)
    assert len(held) == 10
    frames = 4
    sampler = SequenceSampler(ds, batch_size=16, seq_frames=frames, seed=0, exclude=held)
    # Every crop is one clip's frames (each clip its own pitch): find the clip by its first frame.
    owner_of = {}
    for i in range(len(ds)):
        for frame in ds.clip(i):
            owner_of.setdefault(np.round(frame, 3).tobytes(), set()).add(i)
    drawn = set()
    for _ in range(40):
        for crop in sampler.next_batch().frames.numpy():
            owners = owner_of[np.round(crop[0], 3).tobytes()]
            assert len(owners) == 1
            drawn |= owners
    assert drawn.isdisjoint(held.tolist())
    assert len(drawn) > 20  # the rest of the folder is drawn


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("holdout")
    data = write_folder(root / "data", {"low": 12, "high": 12})
    config = {
        "train": {
            "steps": 6,
            "batch_size": 4,
            "seq_frames": 8,
            "log_every": 2,
            "checkpoint_every": 2,
            "eval_every": 2,
            "eval_clips": 4,
            "sample_every": 0,
            "sample_frames": 8,
            "device": "cpu",
            "threads": 1,
        },
        "feature": FC.settings(),
        "generator": {"name": "gru", "hidden_size": 8, "num_layers": 1, "latent_dim": 4, "label_dim": 2},
        "discriminator": {"name": "gru", "hidden_size": 8, "num_layers": 1},
    }
    import contextlib
    import io

    from audiogan.config import to_toml

    (root / "train.toml").write_text(to_toml(config))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        args = ["train", str(data), "--run", str(root / "run"), "--config", str(root / "train.toml")]
        assert main([*args, "--no-progress"]) == 0
    (root / "announce.txt").write_text(printed.getvalue())
    return root


def test_training_holds_out_clips_and_chooses_best_on_them(
    held_out_run: Path, tmp_path: Path, capsys
) -> None:
    run = held_out_run / "run"
    announced = (held_out_run / "announce.txt").read_text()
    assert "held out:    2 clips (8%), never trained on; best.pt is chosen on them" in announced
    assert "too short:   none" in announced
    assert json.loads((run / "data.json").read_text())["held_out"].startswith("2 clips")
    from audiogan.checkpoint import load_checkpoint

    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["eval"]["measured_on"] == "held-out" and best["eval"]["held_out_clips"] == 2
    # the end of training says which generator generate will use
    assert (
        f"best generator: {run / 'checkpoints' / 'best.pt'} (step {best['step']}, window FD "
        f"{best['eval']['window_fd']:.2f} on held-out clips); generate, evaluate and export use it by default"
    ) in announced
    # generate uses it by default, and says so
    out = tmp_path / "out"
    assert (
        main(["generate", str(run), "--out", str(out), "--n", "1", "--seconds", "0.1", "--device", "cpu"])
        == 0
    )
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed.startswith(f"generator: checkpoints/best.pt (step {best['step']}, EMA), best window FD")
    assert "on held-out clips; --checkpoint last for the final one" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoint"]["measured_on"] == "held-out" and manifest["checkpoint"]["default"]


def test_holdout_setting_is_checked(tmp_path: Path) -> None:
    from audiogan.errors import ConfigError
    from audiogan.training.config import resolve_config

    with pytest.raises(ConfigError, match=r"train\.holdout=0\.7"):
        resolve_config({"train": {"holdout": 0.7}})


def test_clips_shorter_than_the_crop_are_counted_by_class_not_dropped_silently(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_folder(root / "long", {"a": 3, "b": 3}, seconds=0.3)  # 38 frames each
    write_folder(root / "short", {"a": 2, "b": 1}, seconds=0.08)  # 11 frames each
    for kind in ("long", "short"):  # one folder per class: a/ and b/ hold both lengths
        for label in ("a", "b"):
            for f in (root / kind / label).iterdir():
                (root / label).mkdir(exist_ok=True)
                f.rename(root / label / f"{kind}-{f.name}")
            (root / kind / label).rmdir()
        (root / kind).rmdir()
    ds = load_dataset(root, FC, progress=False)
    sampler = SequenceSampler(ds, batch_size=2, seq_frames=16, seed=0)
    assert sampler.too_short() == {"a": 2, "b": 1}
    line = sampler.describe_short()
    assert line.startswith("3 of 9 clips (33%) are shorter than the 16-frame crop (0.13 s) and never sampled")
    assert "(a 2, b 1)" in line and "data.pad_short=true" in line
    padded = SequenceSampler(ds, batch_size=2, seq_frames=16, seed=0, pad_short=True)
    assert padded.too_short() == {} and padded.describe_short().startswith("none")
