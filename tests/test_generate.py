"""Generation on a tiny trained run: the Python API (load/generate/stream) and `audiogan generate`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import audiogan
from audiogan.cli import main
from audiogan.errors import CheckpointError, ConfigError

SR, HOP, N_MELS = 8000, 64, 16

# A deterministic "neural" vocoder with a two-frame receptive field, written as a third-party
# plugin file: with it, windowed/streamed vocoding must equal one-shot vocoding sample for sample.
CONV_VOCODER = '''
import dataclasses
import torch
from torch import nn
import audiogan


class ConvVocoder(audiogan.Vocoder):
    """Test vocoder: one transposed convolution over magnitude mel (deterministic, local)."""

    name = "convtest"

    @dataclasses.dataclass
    class Config:
        """Output gain."""

        gain: float = 0.05

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        hop = feature_config.hop_length
        self.up = nn.ConvTranspose1d(feature_config.n_mels, 1, 2 * hop, stride=hop, bias=False)

    def forward(self, mel):
        hop = self.feature_config.hop_length
        return self.up(torch.exp(mel) * self.config.gain)[:, 0, : mel.shape[-1] * hop]


@audiogan.hookimpl
def register_vocoders():
    return [ConvVocoder]
'''


def train_tiny_run(root: Path) -> Path:
    """Train a tiny conditional GRU run for 10 steps on a 3-class synthetic corpus (about 6 s)."""
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    corpus = write_corpus(root / "corpus", per_class=3, seconds=0.4, sample_rate=SR)
    config = {
        "train": {
            "steps": 10,
            "batch_size": 4,
            "seq_frames": 16,
            "log_every": 5,
            "checkpoint_every": 10,
            "sample_every": 0,
            "sample_frames": 16,
            "device": "cpu",
        },
        # crop mode: these tests are about clips of any asked length and endless streams;
        # tests/test_whole.py covers whole-sound runs (learned lengths)
        "data": {"mode": "crop"},
        "feature": {"sample_rate": SR, "n_fft": 256, "hop_length": HOP, "n_mels": N_MELS},
        "generator": {"name": "gru", "hidden_size": 16, "num_layers": 1, "latent_dim": 8, "label_dim": 4},
        "discriminator": {"name": "gru", "hidden_size": 16, "num_layers": 1},
    }
    train(corpus, root / "run", config, progress=False)
    return root / "run"


def write_plugin(root: Path) -> Path:
    """The conv vocoder plugin file."""
    path = root / "conv_vocoder_plugin.py"
    path.write_text(CONV_VOCODER)
    return path


def save_vocoder(run: Path, plugin: Path, dest: Path, name: str = "convtest", **feature_changes) -> Path:
    """A vocoder.pt for vocoder ``name`` (random weights), optionally with a changed FeatureConfig."""
    import dataclasses

    from audiogan.checkpoint import component_record, load_checkpoint, save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.plugins import get_registry

    registry = get_registry([str(plugin)])
    fc = FeatureConfig.from_dict(load_checkpoint(run / "generator.pt")["feature_config"])
    if "n_mels" in feature_changes:  # statistics follow the layout
        n = feature_changes["n_mels"]
        feature_changes.update(mel_mean=[-5.0] * n, mel_std=[2.0] * n)
    fc = dataclasses.replace(fc, **feature_changes)
    torch.manual_seed(0)
    vocoder = registry.build("vocoder", name, {}, fc, 0)
    payload = {
        "format": "audiogan-vocoder",
        "format_version": 1,
        "vocoder": component_record(registry, "vocoder", name, vocoder),
        "feature_config": fc.to_dict(),
    }
    return save_checkpoint(payload, dest)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny trained run folder shared by this module's tests."""
    return train_tiny_run(tmp_path_factory.mktemp("gen"))


@pytest.fixture(scope="module")
def plugin(run) -> Path:
    """The conv vocoder plugin file."""
    return write_plugin(run.parent)


@pytest.fixture(scope="module")
def synth(run):
    """The run loaded with the default vocoder (Griffin-Lim: the run has no vocoder.pt)."""
    return audiogan.load(run, device="cpu")


@pytest.fixture(scope="module")
def conv_synth(run, plugin):
    """The run with the deterministic conv vocoder, loaded from a vocoder.pt file."""
    vocoder = save_vocoder(run, plugin, run.parent / "conv.pt")
    return audiogan.load(run, device="cpu", vocoder=vocoder, plugins=[str(plugin)])


# --------------------------------------------------------------------------- API


def test_generate_count_length_rate_level(synth):
    assert isinstance(synth, audiogan.Synthesizer)
    assert synth.vocoder_name == "griffinlim" and synth.sample_rate == SR
    assert synth.class_names == ["chirp", "drums", "pluck"]
    clips = synth.generate(3, 0.37, labels="chirp", seed=4)
    assert len(clips) == 3
    for clip in clips:
        assert clip.dtype == np.float32 and clip.shape == (round(0.37 * SR),)
        assert np.isfinite(clip).all()
        assert np.max(np.abs(clip)) == pytest.approx(10 ** (-1 / 20), rel=1e-4)  # -1 dBFS headroom
        assert np.sqrt(np.mean(clip**2)) > 1e-3  # not silent
    # far beyond the 16-frame training crop: still exact length, no NaN
    long = synth.generate(1, 2.0, labels=0, seed=1)[0]
    assert long.shape == (2 * SR,) and np.isfinite(long).all()


def test_determinism_and_seed_rule(synth):
    a = synth.generate(3, 0.25, seed=10, batch_size=3)
    b = synth.generate(3, 0.25, seed=10, batch_size=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # bit-identical
    c = synth.generate(1, 0.25, seed=12)[0]  # clip 2 of seed 10 is seed 12, whatever the batch
    assert np.array_equal(a[2], c)
    assert not np.allclose(a[0], a[1])
    # the caller's RNG is neither used nor disturbed
    torch.manual_seed(99)
    before = torch.rand(3)
    torch.manual_seed(99)
    synth.generate(1, 0.1, seed=0)
    assert torch.equal(torch.rand(3), before)


def test_unconditional_pick_and_truncation(synth):
    requests = synth.requests(6, None, seed=0)
    assert all(r.label is not None for r in requests)  # a conditional model always gets a label
    assert requests == synth.requests(6, None, seed=0)
    plain = synth.frames(requests[0], 20)
    truncated = synth.frames(requests[0], 20, truncation=0.5)
    assert not torch.equal(plain, truncated)
    from audiogan.generation.synthesizer import latent

    assert latent(3, 1000, truncation=0.5).abs().max() <= 0.5


def test_stream_equals_one_long_generation_at_mel_level(synth):
    chunks = synth.stream_frames(7, label="drums", seed=5)
    streamed = torch.cat([next(chunks) for _ in range(9)])
    request = synth.requests(1, "drums", 5)[0]
    assert torch.equal(streamed, synth.frames(request, 63))


def test_stream_waveform_equals_one_shot_with_a_local_vocoder(conv_synth):
    chunk_frames = 10
    chunks = list(
        conv_synth.stream(chunk_frames * HOP / SR, label="pluck", seed=2, normalise=False, max_chunks=6)
    )
    assert [c.shape[0] for c in chunks] == [chunk_frames * HOP] * 6
    streamed = np.concatenate(chunks)
    # an endless stream has no end to fade: compare with a one-shot clip without the fade
    whole = conv_synth.generate(
        1, streamed.shape[0] / SR, labels="pluck", seed=2, normalise=False, fade_out_ms=0.0
    )[0]
    np.testing.assert_allclose(streamed, whole, rtol=1e-4, atol=1e-6 * np.abs(whole).max())


def test_long_clips_are_vocoded_in_windows_without_seams(conv_synth):
    whole = conv_synth.generate(1, 1.5, seed=3, normalise=False)[0]
    old = conv_synth.max_vocode_frames
    conv_synth.max_vocode_frames = 40  # force the overlapping-window path
    try:
        windowed = conv_synth.generate(1, 1.5, seed=3, normalise=False)[0]
    finally:
        conv_synth.max_vocode_frames = old
    np.testing.assert_allclose(windowed, whole, rtol=1e-4, atol=1e-6 * np.abs(whole).max())


def test_windowed_vocoding_covers_the_neural_vocoders_receptive_field(run, plugin):
    # istft sees more frames either side than the STFT window: windows must take its declared
    # context_frames, or the windowed render differs from the one-shot render near every cut.
    path = save_vocoder(run, plugin, run.parent / "istft.pt", name="istft")
    istft_synth = audiogan.load(run, device="cpu", vocoder=path)
    assert istft_synth.context_frames() >= istft_synth.vocoder.context_frames
    whole = istft_synth.generate(1, 1.5, seed=3, normalise=False)[0]
    istft_synth.max_vocode_frames = 40  # force the overlapping-window path
    windowed = istft_synth.generate(1, 1.5, seed=3, normalise=False)[0]
    np.testing.assert_allclose(windowed, whole, rtol=1e-4, atol=1e-5 * np.abs(whole).max())


def test_griffin_lim_stream_matches_one_shot_spectrally(synth):
    chunks = list(synth.stream(0.2, label="chirp", seed=7, normalise=False, max_chunks=5))
    streamed = np.concatenate(chunks)
    whole = synth.generate(1, streamed.shape[0] / SR, labels="chirp", seed=7, normalise=False)[0]
    other = synth.generate(1, streamed.shape[0] / SR, labels="chirp", seed=8, normalise=False)[0]

    def log_mel(x):
        return synth.front.log_mel(torch.from_numpy(x))[0]

    seam_error = (log_mel(streamed) - log_mel(whole)).abs().mean().item()
    seed_difference = (log_mel(other) - log_mel(whole)).abs().mean().item()
    # Griffin-Lim's phase differs per window, so samples differ; the spectrogram must not.
    assert seam_error < 0.35 * seed_difference, (seam_error, seed_difference)
    assert 0.5 < np.sqrt(np.mean(streamed**2)) / np.sqrt(np.mean(whole**2)) < 2.0


def test_interpolation_endpoints_equal_plain_seeds(synth):
    from audiogan.generation.generate import interpolation, label_interpolation

    walk = synth.render(interpolation(synth, 3, 8, 4, label="chirp"), 0.2)
    plain3 = synth.generate(1, 0.2, labels="chirp", seed=3)[0]
    plain8 = synth.generate(1, 0.2, labels="chirp", seed=8)[0]
    assert np.array_equal(walk[0].audio, plain3) and np.array_equal(walk[-1].audio, plain8)
    assert not np.allclose(walk[1].audio, plain3)

    morph = label_interpolation(synth, "chirp", "pluck", 3, seed=4)
    frames = [synth.frames(r, 12) for r in morph]
    assert torch.equal(frames[0], synth.frames(synth.requests(1, "chirp", 4)[0], 12))
    assert torch.equal(frames[2], synth.frames(synth.requests(1, "pluck", 4)[0], 12))
    assert not torch.equal(frames[1], frames[0]) and not torch.equal(frames[1], frames[2])


# --------------------------------------------------------------------------- errors


def test_errors(synth, run, plugin, tmp_path):
    with pytest.raises(ConfigError, match="unknown label 'seven'.*chirp, drums, pluck"):
        synth.generate(1, 0.1, labels="seven")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="generator.pt"):
        audiogan.load(empty)
    with pytest.raises(ConfigError, match="unknown vocoder 'nope'.*griffinlim"):
        audiogan.load(run, vocoder="nope")
    with pytest.raises(CheckpointError, match="istft.*needs trained weights"):
        audiogan.load(run, vocoder="istft")
    bad = save_vocoder(run, plugin, tmp_path / "bad.pt", sample_rate=16000)
    with pytest.raises(CheckpointError, match=r"feature.sample_rate=16000.*feature.sample_rate=8000"):
        audiogan.load(run, vocoder=bad, plugins=[str(plugin)])
    bad = save_vocoder(run, plugin, tmp_path / "bad2.pt", hop_length=128)
    with pytest.raises(CheckpointError, match=r"feature.hop_length=128.*feature.hop_length=64"):
        audiogan.load(run, vocoder=bad, plugins=[str(plugin)])
    with pytest.raises(ConfigError, match="unknown key vocoder.n_iterations"):
        audiogan.load(run, vocoder_config={"n_iterations": 3})
    with pytest.raises(ConfigError, match="seconds"):
        synth.generate(1, 0.0)


def test_run_vocoder_pt_is_the_default(run, plugin, tmp_path):
    import shutil

    copy = tmp_path / "run_with_vocoder"
    shutil.copytree(run, copy)
    save_vocoder(run, plugin, copy / "vocoder.pt")
    synth = audiogan.load(copy, device="cpu", plugins=[str(plugin)])
    assert synth.vocoder_name == "convtest"
    assert (
        audiogan.load(copy, device="cpu", vocoder="griffinlim", plugins=[str(plugin)]).vocoder_name
        == "griffinlim"
    )


# --------------------------------------------------------------------------- CLI


def test_cli_generate_manifest_and_overwrite(run, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "generate",
        str(run),
        "--out",
        str(out),
        "--n",
        "2",
        "--seconds",
        "0.3",
        "--label",
        "drums",
        "--label",
        "pluck",
        "--seed",
        "5",
        "--set",
        "vocoder.n_iter=8",
        "--plot",
    ]
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    wavs = [n for n in names if n.endswith(".wav")]
    assert wavs == [
        "label-drums_seed-5_000.wav",
        "label-drums_seed-6_001.wav",
        "label-pluck_seed-5_002.wav",
        "label-pluck_seed-6_003.wav",
    ]
    assert len([n for n in names if n.endswith(".png")]) == 4 and "manifest.json" in names
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vocoder"]["name"] == "griffinlim" and manifest["vocoder"]["config"]["n_iter"] == 8
    assert (
        manifest["run"] == str(run.resolve())
        and manifest["sample_rate"] == SR
        and "S+k" in manifest["seed_rule"]
    )
    entry = manifest["files"][3]
    assert entry["file"] == "label-pluck_seed-6_003.wav" and entry["seed"] == 6 and entry["label"] == "pluck"
    audio, rate = sf.read(out / entry["file"])
    assert rate == SR and audio.shape == (round(0.3 * SR),) == (entry["samples"],)
    first = (out / wavs[0]).read_bytes()
    # refusal leaves everything as it was
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err and (out / wavs[0]).read_bytes() == first
    assert main(args + ["--force"]) == 0
    assert (out / wavs[0]).read_bytes() == first  # same seed and options: identical file
    # the regenerated single clip is identical too
    single = tmp_path / "single"
    assert (
        main(
            [
                "generate",
                str(run),
                "--out",
                str(single),
                "--seconds",
                "0.3",
                "--label",
                "pluck",
                "--seed",
                "6",
                "--set",
                "vocoder.n_iter=8",
            ]
        )
        == 0
    )
    assert sf.read(single / "label-pluck_seed-6_000.wav")[0].tolist() == sf.read(out / wavs[3])[0].tolist()


def test_cli_per_label_flac_interpolate(run, tmp_path):
    out = tmp_path / "flac"
    assert (
        main(
            [
                "generate",
                str(run),
                "--out",
                str(out),
                "--per-label",
                "1",
                "--seconds",
                "0.2",
                "--format",
                "flac",
                "--subtype",
                "PCM_24",
                "--set",
                "vocoder.n_iter=4",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.glob("*.flac")) == [
        "label-chirp_seed-0_000.flac",
        "label-drums_seed-0_001.flac",
        "label-pluck_seed-0_002.flac",
    ]
    assert sf.info(out / "label-chirp_seed-0_000.flac").subtype == "PCM_24"
    walk = tmp_path / "walk"
    assert (
        main(
            [
                "generate",
                str(run),
                "--out",
                str(walk),
                "--label",
                "chirp",
                "--interpolate",
                "1,2",
                "--steps",
                "3",
                "--seconds",
                "0.2",
            ]
        )
        == 0
    )
    files = json.loads((walk / "manifest.json").read_text())["files"]
    assert [f["file"] for f in files] == [f"label-chirp_seed-1-to-2_{i:03d}.wav" for i in range(3)]
    assert [f["t"] for f in files] == [0.0, 0.5, 1.0]
    morph = tmp_path / "morph"
    assert (
        main(
            [
                "generate",
                str(run),
                "--out",
                str(morph),
                "--label-interpolate",
                "chirp,drums",
                "--steps",
                "3",
                "--seconds",
                "0.2",
            ]
        )
        == 0
    )
    assert (morph / "label-chirp-to-drums_seed-0_001.wav").is_file()


def test_cli_errors(run, tmp_path, capsys):
    out = str(tmp_path / "e")
    assert main(["generate", str(run), "--out", out, "--label", "seven"]) == 2
    assert "chirp, drums, pluck" in capsys.readouterr().err
    assert main(["generate", str(tmp_path), "--out", out]) == 2
    assert "generator.pt" in capsys.readouterr().err
    assert main(["generate", str(run), "--out", out, "--set", "train.steps=3"]) == 2
    assert "vocoder.KEY=VALUE" in capsys.readouterr().err
    assert main(["generate", str(run), "--out", out, "--format", "flac", "--subtype", "FLOAT"]) == 2
    if not torch.cuda.is_available():
        assert main(["generate", str(run), "--out", out, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert not Path(out).exists()


def test_hostile_labels_cannot_escape_out(run, tmp_path):
    from audiogan.checkpoint import load_checkpoint, save_checkpoint

    data = load_checkpoint(run / "generator.pt")
    data["class_names"] = ["../../evil", "/abs/path", "a\x00b/..\\c"]
    hostile = tmp_path / "hostile.pt"
    save_checkpoint(data, hostile)
    out = tmp_path / "deep" / "out"
    assert (
        main(
            [
                "generate",
                str(hostile),
                "--out",
                str(out),
                "--per-label",
                "1",
                "--seconds",
                "0.1",
                "--set",
                "vocoder.n_iter=2",
            ]
        )
        == 0
    )
    written = {p.name for p in out.iterdir()}
    assert written == {
        "label-evil_seed-0_000.wav",
        "label-abs_path_seed-0_001.wav",
        "label-a_b_.._c_seed-0_002.wav",
        "manifest.json",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "hostile.pt"]
    labels = [f["label"] for f in json.loads((out / "manifest.json").read_text())["files"]]
    assert labels == data["class_names"]


def test_silent_clip_warns(synth):
    from audiogan.generation.synthesizer import ClipRequest

    with pytest.warns(UserWarning, match="silent"):
        clip = synth._finish(np.zeros(100, np.float32), ClipRequest(seed=1), True, None)
    assert clip.silent and clip.gain_db == 0 and math.isinf(clip.peak_dbfs)


def test_trim_silence_and_cli_option(run, tmp_path):
    from audiogan.generation.synthesizer import trim_silence

    tone = np.sin(np.arange(800) * 0.3).astype(np.float32)
    padded = np.concatenate([np.zeros(640, np.float32), tone, np.full(640, 1e-6, np.float32)])
    trimmed = trim_silence(padded, HOP, 40.0)
    assert 800 <= trimmed.shape[0] <= 800 + 2 * HOP and np.abs(trimmed).max() == np.abs(tone).max()
    out = tmp_path / "trim"
    assert (
        main(
            [
                "generate",
                str(run),
                "--out",
                str(out),
                "--seconds",
                "0.5",
                "--trim-silence",
                "30",
                "--set",
                "vocoder.n_iter=4",
            ]
        )
        == 0
    )
    entry = json.loads((out / "manifest.json").read_text())["files"][0]
    assert 0 < entry["samples"] <= round(0.5 * SR) and entry["samples"] % HOP == 0


def test_clips_end_in_a_fade_not_a_click(synth, run, tmp_path, capsys):
    from audiogan.generation.sampling import fade_out

    ramp = fade_out(np.ones(100, np.float32), 10)
    assert ramp[-1] == 0.0 and np.all(ramp[:90] == 1.0) and np.all(np.diff(ramp[-11:]) <= 0)
    plain = synth.generate(3, 0.5, seed=4, fade_out_ms=0.0)
    faded = synth.generate(3, 0.5, seed=4)  # default: 20 ms
    n = round(0.02 * SR)
    for a, b in zip(plain, faded):
        assert np.array_equal(a[:-n], b[:-n])  # only the last 20 ms change
        assert np.abs(b[-1]) < 1e-6 and np.abs(b[-5:]).max() < np.abs(a[-5:]).max() + 1e-9
    assert max(np.abs(a[-round(0.002 * SR) :]).max() for a in plain) > 10 * max(
        np.abs(b[-round(0.002 * SR) :]).max() for b in faded
    )
    with pytest.raises(ConfigError, match="fade_out_ms"):
        synth.generate(1, 0.2, fade_out_ms=-1.0)
    out = tmp_path / "fade"
    args = ["generate", str(run), "--out", str(out), "--seconds", "0.3", "--set", "vocoder.n_iter=2"]
    assert main([*args, "--fade-out", "50"]) == 0
    assert json.loads((out / "manifest.json").read_text())["options"]["fade_out"] == 50.0
    assert main([*args, "--fade-out", "nan", "--force"]) == 2
    assert "--fade-out nan" in capsys.readouterr().err
