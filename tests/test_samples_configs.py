"""The example configs in ``samples/`` stay usable: each one parses the way ``audiogan train
--config`` reads it, resolves through :func:`audiogan.training.config.resolve_config`, builds its
generator / discriminator / vocoder and generates frames of the right shape. No training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiogan.cli import build_parser
from audiogan.commands.demo import demo_config
from audiogan.commands.train import cli_overrides
from audiogan.config import FeatureConfig, load_toml
from audiogan.plugins import get_registry
from audiogan.training.config import UNLIMITED_STEPS, resolve_config

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# samples/ also holds plugin examples (their own pyproject.toml): only these folders hold configs
CONFIGS = sorted((SAMPLES / "configs").glob("*.toml")) + sorted((SAMPLES / "fsdd").glob("*.toml"))


def test_configs_exist() -> None:
    names = {p.relative_to(SAMPLES).as_posix() for p in CONFIGS}
    assert {"configs/fsdd.toml", "configs/demo.toml", "fsdd/train.toml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_config_resolves_and_builds(path: Path, tmp_path: Path) -> None:
    # exactly what `audiogan train DATA --run RUN --config PATH --threads 1` hands to train()
    args = build_parser().parse_args(
        ["train", str(tmp_path), "--run", str(tmp_path / "run"), "--config", str(path), "--threads", "1"]
    )
    tree = load_toml(args.config)
    config = resolve_config(tree, list(args.overrides) + cli_overrides(args))
    assert config.train.threads == 1
    # every key in the file made it into the resolved config (none silently ignored)
    resolved = config.to_tree()
    for section, table in tree.items():
        for key, value in table.items():
            assert resolved[section][key] == value, f"{path.name}: {section}.{key}"
    registry = get_registry()
    fc = FeatureConfig(**{k: v for k, v in resolved["feature"].items()})
    classes = 10
    g_name, g_cfg = config.component("generator")
    d_name, d_cfg = config.component("discriminator")
    v_name, v_cfg = config.component("vocoder")
    generator = registry.build("generator", g_name, g_cfg, fc, classes).eval()
    discriminator = registry.build("discriminator", d_name, d_cfg, fc, classes).eval()
    registry.build("vocoder", v_name, v_cfg, fc, classes)
    labels = torch.arange(2)
    with torch.no_grad():
        frames, _ = generator(torch.randn(2, generator.latent_dim), labels, config.train.seq_frames)
        logits, _ = discriminator(frames, labels)
    assert frames.shape == (2, config.train.seq_frames, fc.n_mels)
    assert torch.isfinite(logits).all()


def test_demo_toml_matches_the_demo() -> None:
    demo = resolve_config(demo_config(steps=UNLIMITED_STEPS, minutes=4.0)).to_tree()
    assert resolve_config(load_toml(SAMPLES / "configs" / "demo.toml")).to_tree() == demo


def test_fsdd_config_is_the_one_that_trained_the_samples() -> None:
    used = resolve_config(load_toml(SAMPLES / "fsdd" / "train.toml")).to_tree()
    assert resolve_config(load_toml(SAMPLES / "configs" / "fsdd.toml")).to_tree() == used
    assert used["feature"]["sample_rate"] == 8000  # FSDD's own rate
