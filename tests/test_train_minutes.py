"""`audiogan train --minutes M` alone is a time budget: no default step count cuts it short."""

from __future__ import annotations

from pathlib import Path

from audiogan.cli import main
from audiogan.config import load_toml
from audiogan.data.synthetic import write_corpus
from audiogan.training.config import UNLIMITED_STEPS, TrainConfig

TINY = [
    "--set", "feature.sample_rate=8000", "--set", "feature.n_fft=256", "--set", "feature.hop_length=64",
    "--set", "feature.n_mels=16", "--set", "generator.hidden_size=8", "--set", "generator.num_layers=1",
    "--set", "discriminator.hidden_size=8", "--set", "discriminator.num_layers=1",
    "--set", "train.sample_every=0", "--set", "train.eval_every=0", "--batch-size", "4", "--seq-frames", "8",
    "--device", "cpu", "--no-progress",
]  # fmt: skip


def steps_of(run: Path) -> int:
    return load_toml(run / "config.toml")["train"]["steps"]


def test_minutes_alone_has_no_step_limit(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.4, sample_rate=8000)
    assert main(["train", str(corpus), "--run", str(tmp_path / "a"), "--minutes", "0.01", *TINY]) == 0
    assert steps_of(tmp_path / "a") == UNLIMITED_STEPS > TrainConfig().steps


def test_minutes_with_steps_is_whichever_comes_first(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.4, sample_rate=8000)
    args = ["train", str(corpus), "--run", str(tmp_path / "b"), "--minutes", "5", "--steps", "3", *TINY]
    assert main(args) == 0
    assert steps_of(tmp_path / "b") == 3
