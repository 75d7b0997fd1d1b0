"""Package basics: public names, the CLI entry point, atomic writes and config parsing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import audiogan
from audiogan.config import FeatureConfig, apply_overrides, from_dict, load_toml, to_toml
from audiogan.errors import ConfigError
from audiogan.fileio import atomic_write


def test_public_names():
    for name in ("Generator", "Discriminator", "Vocoder", "hookimpl", "FeatureConfig"):
        assert hasattr(audiogan, name)


def test_cli_help_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "audiogan", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "usage: audiogan" in out.stdout


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="feature.n_mels"):
        from_dict(FeatureConfig, {"n_mels": "many"}, "feature")
    with pytest.raises(ConfigError, match="unknown key feature.nmels"):
        from_dict(FeatureConfig, {"nmels": 3}, "feature")
    with pytest.raises(ConfigError, match="feature.hop_length"):
        FeatureConfig(hop_length=0)


def test_overrides_and_toml_round_trip(tmp_path):
    tree = apply_overrides({"feature": {"n_mels": 80}}, ["feature.n_mels=40", "feature.f_max=4000.0"])
    (tmp_path / "c.toml").write_text(to_toml(tree))
    loaded = load_toml(tmp_path / "c.toml")
    assert from_dict(FeatureConfig, loaded["feature"], "feature") == FeatureConfig(n_mels=40, f_max=4000.0)
