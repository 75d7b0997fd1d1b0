"""`audiogan resynth`: copy-synthesis through a vocoder with a run's or a default FeatureConfig."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_generate import SR, save_vocoder, train_tiny_run, write_plugin

from audiogan.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny trained run (8 kHz, 16 mels)."""
    return train_tiny_run(tmp_path_factory.mktemp("resynth"))


@pytest.fixture
def clips(tmp_path) -> list[Path]:
    """A chirp at 8 kHz and a pluck at 16 kHz (resampled on load), in two folders with the same stem."""
    from audiogan.data.synthetic import make_clip

    rng = np.random.default_rng(0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sf.write(tmp_path / "a" / "x.wav", make_clip("chirp", rng, 8000, 0.6), 8000)
    sf.write(tmp_path / "b" / "x.wav", make_clip("pluck", rng, 16000, 0.4), 16000)
    return [tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"]


def test_resynth_with_a_run(run, clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            ["resynth", *map(str, clips), "--out", str(out), "--run", str(run), "--set", "vocoder.n_iter=16"]
        )
        == 0
    )
    assert "log-mel L1" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocoder"] == "griffinlim" and manifest["vocoder_config"]["n_iter"] == 16
    assert [f["file"] for f in manifest["files"]] == ["x.griffinlim.wav", "x_1.griffinlim.wav"]
    audio, rate = sf.read(out / "x.griffinlim.wav")
    assert rate == SR and audio.shape == (round(0.6 * SR),) and np.isfinite(audio).all()
    assert sf.read(out / "x_1.griffinlim.wav")[0].shape == (round(0.4 * SR),)
    # Copy-synthesis keeps the spectrogram: far closer to its input than to the other clip.
    import torch

    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.features import MelFrontEnd

    front = MelFrontEnd(FeatureConfig.from_dict(manifest["feature_config"]))
    original = front.log_mel(torch.from_numpy(load_audio(clips[0], SR)))
    made = front.log_mel(torch.from_numpy(audio.astype(np.float32)))
    shifted = front.log_mel(torch.from_numpy(np.roll(load_audio(clips[0], SR), 2000)))
    baseline = (shifted - original).abs().mean().item()
    assert (made - original).abs().mean() < 0.5 * baseline  # the written (PCM_16) file
    assert 0 < manifest["files"][0]["mel_l1"] < 0.5 * baseline  # the float output, before writing
    # refuses to overwrite, then --force works
    assert main(["resynth", str(clips[0]), "--out", str(out), "--run", str(run)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["resynth", str(clips[0]), "--out", str(out), "--run", str(run), "--force"]) == 0


def test_resynth_without_a_run_uses_default_features(clips, tmp_path):
    out = tmp_path / "default"
    assert (
        main(
            [
                "resynth",
                str(clips[1]),
                "--out",
                str(out),
                "--set",
                "feature.sample_rate=16000",
                "--set",
                "feature.n_mels=40",
                "--set",
                "vocoder.n_iter=8",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run"] is None and manifest["feature_config"]["n_mels"] == 40
    audio, rate = sf.read(out / "x.griffinlim.wav")
    assert rate == 16000 and audio.shape == (round(0.4 * 16000),)
    assert np.sqrt(np.mean(audio**2)) > 1e-3


def test_resynth_errors(run, clips, tmp_path, capsys):
    out = str(tmp_path / "e")
    assert main(["resynth", str(clips[0]), "--out", out, "--run", str(run), "--set", "feature.n_mels=8"]) == 2
    assert "--run" in capsys.readouterr().err
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not really")
    assert main(["resynth", str(broken), "--out", out]) == 2
    assert "broken.wav" in capsys.readouterr().err
    plugin = write_plugin(tmp_path)
    mismatched = save_vocoder(run, plugin, tmp_path / "v.pt", n_mels=24)
    assert (
        main(
            [
                "resynth",
                str(clips[0]),
                "--out",
                out,
                "--run",
                str(run),
                "--vocoder",
                str(mismatched),
                "--plugin",
                str(plugin),
            ]
        )
        == 2
    )
    assert "feature.n_mels=24" in capsys.readouterr().err
    assert main(["resynth", str(clips[0]), "--out", out, "--vocoder", "istft"]) == 2
    assert "needs trained weights" in capsys.readouterr().err


def test_resynth_real_recordings(fsdd, tmp_path):
    files = sorted((fsdd / "3").glob("*.wav"))[:2]
    out = tmp_path / "fsdd"
    assert main(["resynth", *map(str, files), "--out", str(out), "--set", "vocoder.n_iter=32"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    for entry, source in zip(manifest["files"], files):
        audio, rate = sf.read(out / entry["file"])
        assert rate == 16000 and abs(audio.shape[0] / rate - sf.info(source).duration) < 1e-3
        # natural-log units: 32 iterations give about 0.12-0.15 on FSDD, random phase (0 iterations) about 0.7
        assert entry["mel_l1"] < 0.4
