"""Defaults by device (``train.profile``): a CPU run with no settings gets the small GRU models, the
choice is printed at the start and recorded in config.toml, and a config's own choices win."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiogan.config import load_toml
from audiogan.errors import ConfigError
from audiogan.training.config import PROFILES, describe_profile, resolve_with_profile

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_cpu_profile_fills_what_the_config_leaves_unset() -> None:
    config = resolve_with_profile({}, [], CPU)
    assert config.train.profile == "cpu"
    assert config.generator == PROFILES["cpu"]["generator"]
    assert config.discriminator == PROFILES["cpu"]["discriminator"]
    assert (config.train.lr_g, config.train.lr_d) == (5e-4, 1e-3)
    assert describe_profile(config).startswith("cpu profile, for this device")
    # the file's and the command line's settings win over the profile
    config = resolve_with_profile(
        {"train": {"lr_g": 1e-4}, "generator": {"hidden_size": 96}}, ["discriminator.hidden_size=32"], CPU
    )
    assert config.train.lr_g == 1e-4 and config.train.lr_d == 1e-3
    assert config.generator["name"] == "gru" and config.generator["hidden_size"] == 96
    assert config.discriminator["hidden_size"] == 32


def test_another_plugin_named_keeps_its_own_defaults() -> None:
    config = resolve_with_profile({"generator": {"name": "lstm"}}, ["discriminator.name=lstm"], CPU)
    assert config.generator == {"name": "lstm"} and config.discriminator == {"name": "lstm"}
    assert config.train.lr_g == 5e-4  # train settings still come from the profile


def test_gpu_and_none_keep_the_plugins_defaults() -> None:
    for device, overrides in ((CUDA, []), (CPU, ["train.profile=gpu"]), (CPU, ["train.profile=none"])):
        config = resolve_with_profile({}, overrides, device)
        assert config.generator == {"name": "lstm"} and config.train.lr_g == 2e-4
    assert resolve_with_profile({}, [], CUDA).train.profile == "gpu"
    assert resolve_with_profile({}, ["train.profile=none"], CUDA).train.profile == "none"
    with pytest.raises(ConfigError, match=r"train\.profile='tpu'"):
        resolve_with_profile({}, ["train.profile=tpu"], CPU)


def test_training_prints_and_records_the_profile(tmp_path: Path, capsys) -> None:
    from audiogan.cli import main
    from audiogan.data.synthetic import write_corpus

    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.3, sample_rate=8000)
    run = tmp_path / "run"
    # the run's models are the profile's (shrunk here to keep the test fast, as a user would with --set)
    args = ["train", str(corpus), "--run", str(run), "--steps", "1", "--no-progress", "--device", "cpu"]
    args += [
        "--set",
        "train.eval_every=0",
        "--set",
        "generator.hidden_size=8",
        "--set",
        "feature.n_mels=16",
        "--seq-frames",
        "8",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "defaults:    cpu profile, for this device" in printed and "gru 8x2 generator" in printed
    saved = load_toml(run / "config.toml")
    assert saved["train"]["profile"] == "cpu" and saved["generator"]["name"] == "gru"
    assert saved["discriminator"]["hidden_size"] == 64
    # resuming uses the recorded settings, whatever the device says
    assert main(["train", str(corpus), "--run", str(run), "--resume", "--steps", "2", "--no-progress"]) == 0
    assert load_toml(run / "config.toml")["generator"]["hidden_size"] == 8
