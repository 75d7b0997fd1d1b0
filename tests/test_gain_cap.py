"""Peak normalisation raises a clip by at most ``max_gain_db`` (``--max-gain``, default 40 dB), so a
nearly silent clip is not blown up to full scale; capped clips are reported and the manifest says
what gain each clip got. Clips that need less gain are scaled exactly as before."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiogan
from audiogan.cli import main
from audiogan.errors import ConfigError
from audiogan.generation.synthesizer import MAX_GAIN_DB, SILENCE_PEAK, ClipRequest

LEGACY_RUN = Path(__file__).resolve().parent / "fixtures" / "legacy-run"

# A deterministic vocoder whose peak is its ``level`` setting (within 2%): a tone whose envelope
# follows the mel energy, scaled so its loudest frame has envelope 1.
QUIET_VOCODER = '''
import dataclasses
import torch
import audiogan


class QuietVocoder(audiogan.Vocoder):
    """Test vocoder: a tone following the mel energy, at a settable peak level."""

    name = "quiettest"

    @dataclasses.dataclass
    class Config:
        """Peak level (linear)."""

        level: float = 1e-3

    def forward(self, mel):
        hop = self.feature_config.hop_length
        env = torch.exp(mel).mean(1)
        env = (env / env.amax(-1, keepdim=True)).repeat_interleave(hop, -1)
        t = torch.arange(env.shape[-1], dtype=env.dtype)
        return self.config.level * env * torch.sin(0.3 * t)


@audiogan.hookimpl
def register_vocoders():
    return [QuietVocoder]
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A copy of the committed tiny legacy run (no training needed)."""
    root = tmp_path_factory.mktemp("gaincap")
    return Path(shutil.copytree(LEGACY_RUN, root / "run", ignore=shutil.ignore_patterns("expected")))


@pytest.fixture(scope="module")
def plugin(run) -> Path:
    path = run.parent / "quiet_vocoder_plugin.py"
    path.write_text(QUIET_VOCODER)
    return path


def synth_at(run: Path, plugin: Path, level: float, **kwargs):
    return audiogan.load(
        run,
        device="cpu",
        vocoder="quiettest",
        vocoder_config={"level": level},
        plugins=[str(plugin)],
        **kwargs,
    )


def peak(audio: np.ndarray) -> float:
    return float(np.max(np.abs(audio)))


def test_a_clip_with_a_tiny_peak_gets_at_most_the_cap(run, plugin):
    synth = synth_at(run, plugin, 2e-4)
    assert synth.max_gain_db == MAX_GAIN_DB == 40.0
    raw = synth.render(synth.requests(2, seed=3), 0.3, normalise=False)
    with pytest.warns(UserWarning, match="too quiet to normalise") as caught:
        clips = synth.render(synth.requests(2, seed=3), 0.3)
    assert [str(w.message).split(" is ")[0] for w in caught] == ["clip with seed 3", "clip with seed 4"]
    for before, clip in zip(raw, clips):
        assert SILENCE_PEAK <= peak(before.audio) < 3e-4  # quiet, not silent: uncapped it would get ~73 dB
        assert clip.gain_capped and not clip.silent
        assert clip.gain_db == pytest.approx(MAX_GAIN_DB)
        assert clip.peak_dbfs == pytest.approx(20 * math.log10(peak(before.audio)))
        np.testing.assert_allclose(clip.audio, before.audio * 100, rtol=1e-6)
        assert peak(clip.audio) < 0.03  # far below the -1 dBFS headroom


def test_generate_takes_max_gain_db(run, plugin):
    synth = synth_at(run, plugin, 2e-4)
    raw = synth.generate(1, 0.3, seed=3, normalise=False)[0]
    with pytest.warns(UserWarning, match="gain capped at 20.0 dB"):
        louder = synth.generate(1, 0.3, seed=3, max_gain_db=20)[0]
    np.testing.assert_allclose(louder, raw * 10, rtol=1e-6)
    # a ceiling above what the clip needs gives plain peak normalisation
    full = synth.generate(1, 0.3, seed=3, max_gain_db=100)[0]
    assert peak(full) == pytest.approx(synth.target_peak(), rel=1e-6)
    capped_by_load = synth_at(run, plugin, 2e-4, max_gain_db=6.0)
    with pytest.warns(UserWarning, match="gain capped at 6.0 dB"):
        six = capped_by_load.generate(1, 0.3, seed=3)[0]
    np.testing.assert_allclose(six, raw * 10 ** (6 / 20), rtol=1e-6)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="max_gain_db"):
            synth.generate(1, 0.3, seed=3, max_gain_db=bad)
    with pytest.raises(ConfigError, match="max_gain_db"):
        synth_at(run, plugin, 2e-4, max_gain_db=-3.0)


def test_clip_at_minus_78_dbfs_is_raised_40_db_not_78(run, plugin):
    synth = synth_at(run, plugin, 1e-3)
    audio = np.zeros(800, np.float32)
    audio[100], audio[300] = 1.25e-4, -1e-4  # -78 dBFS (float32 1e-4 itself counts as silent)
    with pytest.warns(UserWarning, match="clip with seed 9 is too quiet"):
        clip = synth._finish(audio, ClipRequest(seed=9), True, None)
    assert clip.gain_capped and clip.gain_db == pytest.approx(40.0)
    assert peak(clip.audio) == pytest.approx(1.25e-2, rel=1e-6)
    # truly silent clips are left alone, as before: unscaled, reported silent, not "capped"
    with pytest.warns(UserWarning, match="is silent") as caught:
        silent = synth._finish(np.zeros(800, np.float32), ClipRequest(seed=9), True, None)
    assert len(caught) == 1 and silent.silent and not silent.gain_capped and silent.gain_db == 0
    assert not silent.audio.any()


def test_a_normal_clip_is_scaled_exactly_as_before(run, plugin):
    synth = synth_at(run, plugin, 0.02)  # needs about 33 dB: under the cap
    raw = synth.render(synth.requests(3, seed=1), 0.3, normalise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clips = synth.render(synth.requests(3, seed=1), 0.3)
    for before, clip in zip(raw, clips):
        gain = synth.target_peak() / peak(before.audio)  # the uncapped rule, bit for bit
        assert 30 < 20 * math.log10(gain) < MAX_GAIN_DB
        assert np.array_equal(clip.audio, (before.audio * gain).astype(np.float32))
        assert not clip.gain_capped and clip.gain_db == 20 * math.log10(gain)


def test_stream_gain_is_capped(run, plugin):
    synth = synth_at(run, plugin, 2e-4)
    raw = list(synth.stream(0.1, seed=1, normalise=False, max_chunks=3))
    with pytest.warns(UserWarning, match="stream with seed 1 starts too quiet"):
        chunks = list(synth.stream(0.1, seed=1, max_chunks=3))
    np.testing.assert_allclose(np.concatenate(chunks), np.concatenate(raw) * 100, rtol=1e-6)


def test_cli_records_the_gain_in_the_manifest(run, plugin, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["generate", str(run), "--out", str(out), "--vocoder", "quiettest", "--plugin", str(plugin)]
    base += ["--n", "2", "--seconds", "0.3", "--seed", "4", "--force"]
    assert main([*base, "--set", "vocoder.level=0.0002"]) == 0
    printed = capsys.readouterr().out
    for seed in (4, 5):
        assert f"audiogan: warning: clip with seed {seed} is too quiet to normalise" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["max_gain"] == MAX_GAIN_DB
    for entry in manifest["files"]:
        assert entry["gain_db"] == 40.0 and entry["gain_capped"] is True and entry["silent"] is False
        assert -80 < entry["peak_dbfs"] < -70
        written = peak(sf.read(out / entry["file"])[0])
        assert written == pytest.approx(10 ** ((entry["peak_dbfs"] + 40) / 20), rel=1e-2)

    assert main([*base, "--set", "vocoder.level=0.0002", "--max-gain", "12.5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["gain_db"] for e in manifest["files"]] == [12.5, 12.5]
    assert "gain capped at 12.5 dB" in capsys.readouterr().out

    assert main([*base, "--set", "vocoder.level=0.3"]) == 0
    assert "warning" not in capsys.readouterr().out
    for entry in json.loads((out / "manifest.json").read_text())["files"]:
        assert entry["gain_capped"] is False
        assert entry["gain_db"] == pytest.approx(-1.0 - entry["peak_dbfs"], abs=2e-3)


def test_cli_default_is_the_api_default():
    from audiogan.commands.generate import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["run", "--out", "x"]).max_gain == MAX_GAIN_DB
