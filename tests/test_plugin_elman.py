"""The sample third-party plugin (samples/plugin-elman): discovered through its own entry point,
usable by name in training, and pip-installable with its own passing test suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

from audiogan.checkpoint import load_generator
from audiogan.cli import main
from audiogan.plugins import get_registry

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "plugin-elman"
PROJECT = tomllib.loads((SAMPLE / "pyproject.toml").read_text())["project"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _forget_sample_module() -> None:
    for name in [m for m in sys.modules if m == "audiogan_elman" or m.startswith("audiogan_elman.")]:
        del sys.modules[name]


@pytest.fixture
def elman_installed(tmp_path, monkeypatch):
    """The sample as pip would lay it out: the package plus a ``*.dist-info`` built from its own pyproject."""
    site = tmp_path / "site"
    shutil.copytree(SAMPLE / "audiogan_elman", site / "audiogan_elman")
    info = site / f"{PROJECT['name'].replace('-', '_')}-{PROJECT['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PROJECT['name']}\nVersion: {PROJECT['version']}\n"
    )
    entry_points = PROJECT["entry-points"]["audiogan"]
    (info / "entry_points.txt").write_text(
        "[audiogan]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    _forget_sample_module()
    monkeypatch.syspath_prepend(str(site))
    yield site
    _forget_sample_module()


def test_sample_is_found_through_its_entry_point(elman_installed):
    registry = get_registry()
    for kind in ("generator", "discriminator"):
        info = registry.info(kind, "elman")
        assert (info.plugin, info.distribution, info.version, info.builtin) == (
            "elman",
            "audiogan-elman",
            "0.1.0",
            False,
        )
        assert Path(sys.modules[info.cls.__module__].__file__).is_relative_to(elman_installed)
    assert registry.info("generator", "elman").description.startswith("Elman RNN generator: h_t = tanh(")
    assert registry.info("discriminator", "elman").description.startswith(
        "Minimal linear discriminator: D(x) = sigmoid("
    )


def test_elman_generator_follows_the_sketch(elman_installed, tiny_feature_config):
    """x_t = tanh(W_o h_t + b_o) with h_t = tanh(W_h [z_t; h_(t-1)] + b_h), checked step by step by hand."""
    g = get_registry().build(
        "generator", "elman", {"hidden_size": 6, "latent_dim": 3}, tiny_feature_config, 0
    )
    z = torch.randn(2, 3)
    frames, state = g(z, None, 4)
    rnn = g.rnn
    w_h = torch.cat([rnn.weight_ih_l0, rnn.weight_hh_l0], dim=1)
    b_h = rnn.bias_ih_l0 + rnn.bias_hh_l0
    h = torch.zeros(2, 6)
    for t in range(4):
        h = torch.tanh(torch.cat([z, h], dim=1) @ w_h.T + b_h)
        torch.testing.assert_close(frames[:, t], torch.tanh(g.out(h)))
    torch.testing.assert_close(state[0], h)
    d = get_registry().build("discriminator", "elman", None, tiny_feature_config, 0)
    logits, _ = d(frames, None)
    torch.testing.assert_close(
        torch.sigmoid(logits).mean(1), torch.sigmoid(d.score(frames)).squeeze(-1).mean(1)
    )


from audiogan.testing import tiny_feature_config  # noqa: E402,F401  (fixture)


def test_sample_trains_and_generates_by_name(elman_installed, synthetic_corpus, tmp_path, capsys):
    run = tmp_path / "runs" / "elman"
    argv = [
        "train",
        str(synthetic_corpus),
        "--run",
        str(run),
        "--generator",
        "elman",
        "--discriminator",
        "elman",
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--seq-frames",
        "8",
        "--no-progress",
        "--device",
        "cpu",
        "--set",
        "feature.n_mels=16",
        "--set",
        "train.sample_every=0",
        "--set",
        "train.sample_frames=8",
        "--set",
        "generator.hidden_size=16",
        "--set",
        "vocoder.n_iter=2",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    loaded = load_generator(run)
    assert type(loaded.model).__name__ == "ElmanGenerator" and loaded.model.config.hidden_size == 16
    frames, _ = loaded.model(torch.randn(2, loaded.model.latent_dim), torch.tensor([0, 1]), 5)
    assert frames.shape == (2, 5, 16) and bool(torch.isfinite(frames).all())


@pytest.mark.slow
def test_pip_install_lists_it_and_its_own_tests_pass(tmp_path):
    """``pip install`` the sample (into a target folder, not the shared environment), then use it."""
    source = tmp_path / "plugin-elman"
    shutil.copytree(SAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "target"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "AUDIOGAN_STRICT": "1",
    }
    listing = subprocess.run(
        [sys.executable, "-m", "audiogan", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    elman = [c for c in json.loads(listing.stdout) if c["name"] == "elman"]
    assert sorted(c["kind"] for c in elman) == ["discriminator", "generator"]
    assert all(c["distribution"] == "audiogan-elman" and c["version"] == "0.1.0" for c in elman)
    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        env=env,
        cwd=source,
        timeout=300,
    )
    assert own_tests.returncode == 0, own_tests.stdout[-2000:] + own_tests.stderr[-2000:]
    assert "4 passed" in own_tests.stdout
