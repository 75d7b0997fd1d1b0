"""Vocoder training: losses fall, exact resume, run folder layout, GAN-run FeatureConfig, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from audiogan.checkpoint import load_checkpoint
from audiogan.cli import main
from audiogan.data.synthetic import write_corpus
from audiogan.plugins import get_registry
from audiogan.vocoder.training import VocoderTrainConfig, train_vocoder

# A tiny layout and model: 8 kHz, 32 mels, dim 32, 2 blocks, small discriminators.
TINY = [
    "feature.sample_rate=8000",
    "feature.n_fft=256",
    "feature.hop_length=64",
    "feature.n_mels=32",
    "vocoder.dim=32",
    "vocoder.intermediate_dim=64",
    "vocoder.num_layers=2",
    "train.batch_size=4",
    "train.segment_frames=16",
    "train.mpd_channels=[8, 16]",
    "train.mrd_channels=8",
    "train.mpd_periods=[2, 3]",
    "train.sample_every=0",
    "train.samples=2",
    "train.threads=1",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class synthetic corpus at 8 kHz (plucks, chirps, drums), 3 clips each of 0.4 s."""
    return write_corpus(
        tmp_path_factory.mktemp("vocoder") / "corpus", per_class=3, seconds=0.4, sample_rate=8000
    )


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "vocoder" / "metrics.jsonl").read_text().splitlines()]


def test_losses_fall_and_run_folder_is_complete(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    torch.manual_seed(0)
    # The bare network (no projections, no mel-consistency updates), whose output starts far off.
    result = train_vocoder(
        corpus,
        run,
        overrides=TINY
        + [
            "train.steps=40",
            "train.log_every=4",
            "train.lr_g=2e-3",
            "train.checkpoint_every=20",
            "vocoder.refine_iters=0",
            "vocoder.mel_consistency=0",
        ],
        progress=False,
    )
    assert result.step == 40 and result.skipped == 0 and not result.interrupted
    steps = [m for m in metrics(run) if "loss_mel" in m]
    assert [m["step"] for m in steps] == list(range(4, 41, 4))  # each line: the mean over 4 steps
    first = (steps[0]["loss_mel"] + steps[1]["loss_mel"]) / 2  # steps 1-8
    last = (steps[-2]["loss_mel"] + steps[-1]["loss_mel"]) / 2  # steps 33-40
    assert last < 0.85 * first, (first, last)
    # Adversarial terms were live (no warm-up) and finite.
    assert all(m["loss_d"] > 0 for m in steps)
    for name in (
        "vocoder.pt",
        "vocoder/config.toml",
        "vocoder/checkpoints/last.pt",
        "vocoder/checkpoints/step-000020.pt",
    ):
        assert (run / name).is_file(), name
    assert any(m.get("val_log_mel_l1") is not None for m in metrics(run))  # validation at the end
    assert sorted(p.suffix for p in result.samples.iterdir()) == [".png", ".png", ".wav", ".wav"]
    # The run folder has no GAN files: the vocoder's state is kept apart from a GAN's.
    assert not (run / "checkpoints").exists() and not (run / "generator.pt").exists()
    # vocoder.pt loads by path, for the same FeatureConfig, and vocodes.
    saved = load_checkpoint(run / "vocoder.pt", kind="vocoder")
    assert saved["step"] == 40
    from audiogan.config import FeatureConfig

    fc = FeatureConfig.from_dict(saved["feature_config"])
    vocoder = get_registry().build("vocoder", "istft", {"checkpoint": str(run / "vocoder.pt")}, fc, 0).eval()
    with torch.no_grad():
        assert vocoder(torch.randn(1, 32, 10) - 5).shape == (1, 640)


def test_resume_is_exact(corpus: Path, tmp_path: Path) -> None:
    """12 steps in one go == 6 steps, then resume from that checkpoint to 12 (cosine schedule included)."""
    common = TINY + [
        "train.steps=12",
        "train.checkpoint_every=6",
        "train.log_every=3",
        "train.keep_checkpoints=5",
    ]
    whole = tmp_path / "whole"
    train_vocoder(corpus, whole, overrides=common, progress=False)
    half = tmp_path / "half"
    (half / "vocoder" / "checkpoints").mkdir(parents=True)
    shutil.copy(
        whole / "vocoder" / "checkpoints" / "step-000006.pt", half / "vocoder" / "checkpoints" / "last.pt"
    )
    result = train_vocoder(corpus, half, overrides=["train.checkpoint_every=6"], resume=True, progress=False)
    assert result.step == 12
    a = load_checkpoint(whole / "vocoder" / "checkpoints" / "last.pt")
    b = load_checkpoint(half / "vocoder" / "checkpoints" / "last.pt")
    for key in ("generator", "discriminator", "ema"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"


def test_resume_without_checkpoint_and_restart_over_checkpoints(corpus: Path, tmp_path: Path) -> None:
    from audiogan.errors import ConfigError

    with pytest.raises(ConfigError, match="no vocoder checkpoint"):
        train_vocoder(corpus, tmp_path / "none", resume=True, progress=False)
    run = tmp_path / "run"
    train_vocoder(corpus, run, overrides=TINY + ["train.steps=2"], progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        train_vocoder(corpus, run, overrides=TINY + ["train.steps=2"], progress=False)


def test_uses_the_gan_runs_feature_config(corpus: Path, tmp_path: Path) -> None:
    """A run folder holding a GAN: the vocoder adopts its FeatureConfig (stats included) and refuses to
    change it."""
    from audiogan.checkpoint import save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.errors import ConfigError

    run = tmp_path / "gan"
    fc = FeatureConfig(
        sample_rate=8000, n_fft=256, hop_length=64, n_mels=24, mel_mean=[-6.0] * 24, mel_std=[2.0] * 24
    )
    # The GAN side of the contract: only format and feature_config matter to the vocoder.
    save_checkpoint(
        {
            "format": "audiogan-generator",
            "format_version": 1,
            "feature_config": fc.to_dict(),
            "generator": {},
            "class_names": [],
            "step": 0,
        },
        run / "generator.pt",
    )
    with pytest.raises(ConfigError, match="feature.n_mels=32 differs from the GAN run"):
        train_vocoder(corpus, run, overrides=TINY + ["train.steps=2"], progress=False)
    overrides = [o for o in TINY if not o.startswith("feature.")] + ["train.steps=2"]
    train_vocoder(corpus, run, overrides=overrides, progress=False)
    saved = load_checkpoint(run / "vocoder.pt", kind="vocoder")
    assert FeatureConfig.from_dict(saved["feature_config"]) == fc
    assert torch.equal(saved["vocoder"]["state_dict"]["in_mean"].flatten(), torch.full((24,), -6.0))


def test_config_errors_name_the_key(corpus: Path, tmp_path: Path) -> None:
    from audiogan.errors import ConfigError

    with pytest.raises(ConfigError, match="train.loss"):
        VocoderTrainConfig(loss="wgan-gp")
    with pytest.raises(ConfigError, match="train.discriminators"):
        VocoderTrainConfig(discriminators=["msd"])
    with pytest.raises(ConfigError, match="unknown key train.lr"):
        train_vocoder(corpus, tmp_path / "r", overrides=["train.lr=1"], progress=False)
    with pytest.raises(ConfigError, match="griffinlim.*not trainable.*istft"):
        train_vocoder(corpus, tmp_path / "r", overrides=TINY + ["vocoder.name=griffinlim"], progress=False)


def test_cli_trains_resumes_and_reports_errors(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "cli"
    args = ["train-vocoder", str(corpus), "--run", str(run), "--no-progress", "--device", "cpu"]
    sets = [x for o in TINY for x in ("--set", o)]
    assert main(args + sets + ["--steps", "3"]) == 0
    out = capsys.readouterr().out
    assert "vocoder.pt" in out and "vocoder.checkpoint=" in out
    assert main(args + ["--steps", "5", "--resume"]) == 0
    assert load_checkpoint(run / "vocoder.pt", kind="vocoder")["step"] == 5
    assert main(args + sets + ["--set", "train.batch_size=0"]) == 2
    err = capsys.readouterr().err
    assert "train.batch_size=0" in err and len(err.strip().splitlines()) == 1


def test_loss_modules_are_zero_only_for_identical_audio() -> None:
    from audiogan.config import FeatureConfig
    from audiogan.vocoder.training import MultiResolutionSTFTLoss, MultiScaleMelLoss

    fc = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)
    x = torch.randn(2, 2048, generator=torch.Generator().manual_seed(0)) * 0.1
    for loss in (MultiScaleMelLoss(fc), MultiResolutionSTFTLoss(fc)):
        assert float(loss(x, x)) == 0.0
        assert float(loss(0.5 * x, x)) > 0.1


def test_magnitude_l1_is_zero_only_for_the_true_magnitude() -> None:
    from audiogan.config import FeatureConfig
    from audiogan.vocoder.losses import magnitude_l1

    fc = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)
    vocoder = get_registry().build(
        "vocoder", "istft", {"dim": 8, "intermediate_dim": 8, "num_layers": 1}, fc, 0
    )
    audio = torch.randn(2, 20 * 64, generator=torch.Generator().manual_seed(0)) * 0.1
    true = torch.stft(audio, 256, 64, 256, torch.hann_window(256), return_complex=True).abs()[..., :20]
    assert float(magnitude_l1(true, audio, vocoder)) < 1e-5
    assert abs(float(magnitude_l1(2 * true, audio, vocoder)) - 0.6931) < 1e-3  # |log 2|
    # Masked-out (padded) frames do not count.
    wrong = true.clone()
    wrong[1, :, 10:] *= 5
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 10:] = False
    assert float(magnitude_l1(wrong, audio, vocoder, mask)) < 1e-5


def test_magnitude_supervision_is_logged_and_lowers_the_magnitude_error(corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_vocoder(
        corpus,
        run,
        overrides=TINY
        + ["train.steps=8", "train.log_every=4", "train.warmup_steps=8", "train.magnitude_weight=45"],
        progress=False,
    )
    steps = [m for m in metrics(run) if "loss_mag" in m]
    assert len(steps) == 2 and all(m["loss_mag"] > 0 for m in steps)
    # The loss itself teaches the magnitude: on one fixed batch it falls steadily.
    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.features import MelFrontEnd
    from audiogan.vocoder.losses import magnitude_l1

    fc = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)
    audio = torch.from_numpy(load_audio(sorted(corpus.rglob("*.wav"))[0], 8000))[: 20 * 64][None]
    mel = MelFrontEnd(fc).log_mel(audio).transpose(1, 2)[..., :20]
    torch.manual_seed(0)
    vocoder = get_registry().build(
        "vocoder", "istft", {"dim": 32, "intermediate_dim": 64, "num_layers": 2}, fc, 0
    )
    optimizer = torch.optim.Adam(vocoder.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = magnitude_l1(vocoder(mel, return_magnitude=True)[1], audio, vocoder)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


NAN_PLUGIN = '''
import torch
import audiogan
from audiogan_plugins.istft_vocoder import ISTFTVocoder


class NanVocoder(ISTFTVocoder):
    """istft that turns to NaN after a few training calls (tests the divergence guard)."""

    name = "nan-istft"
    calls = 0

    def forward(self, mel):
        wave = super().forward(mel)
        if self.training and torch.is_grad_enabled():
            type(self).calls += 1
            if type(self).calls > 4:
                return wave * float("nan")
        return wave


@audiogan.hookimpl
def register_vocoders():
    return [NanVocoder]
'''


def test_divergence_guard_restores_then_gives_up(corpus: Path, tmp_path: Path) -> None:
    from audiogan.plugins import get_registry
    from audiogan.training.loop import TrainingDiverged

    plugin = tmp_path / "nan_vocoder.py"
    plugin.write_text(NAN_PLUGIN)
    registry = get_registry(extra=(str(plugin),))
    overrides = TINY + [
        'vocoder.name="nan-istft"',
        "train.steps=40",
        "train.divergence_patience=3",
        "train.max_restores=1",
        "train.checkpoint_every=2",
    ]
    with pytest.warns(RuntimeWarning, match="non-finite steps in a row"), pytest.raises(TrainingDiverged):
        train_vocoder(corpus, tmp_path / "run", overrides=overrides, registry=registry, progress=False)
    # The last good checkpoint is intact and loadable.
    state = load_checkpoint(tmp_path / "run" / "vocoder" / "checkpoints" / "last.pt", kind="checkpoint")
    assert all(torch.isfinite(t).all() for t in state["generator"].values())


def test_gan_run_then_vocoder_then_generate_uses_it(corpus: Path, tmp_path: Path) -> None:
    """The real engine: a GAN run, train-vocoder into it, and generation picks the trained vocoder up."""
    import audiogan
    from audiogan.training.loop import train

    run = tmp_path / "run"
    features = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32}
    train(
        corpus,
        run,
        {
            "train": {"steps": 2, "batch_size": 2, "seq_frames": 8, "sample_every": 0, "threads": 1},
            "feature": features,
            "generator": {"hidden_size": 16, "num_layers": 1},
            "discriminator": {"hidden_size": 16, "num_layers": 1},
            "vocoder": {"n_iter": 2},
        },
        progress=False,
    )
    overrides = [o for o in TINY if not o.startswith("feature.")] + ["train.steps=2", "train.threads=1"]
    train_vocoder(corpus, run, overrides=overrides, progress=False)
    assert (run / "checkpoints" / "last.pt").is_file() and (
        run / "vocoder" / "checkpoints" / "last.pt"
    ).is_file()
    synth = audiogan.load(run, device="cpu")
    assert synth.vocoder_name == "istft"
    (clip,) = synth.generate(n=1, seconds=0.25, seed=1)
    assert abs(clip.shape[0] - 2000) <= 64 and bool(torch.isfinite(torch.from_numpy(clip)).all())
