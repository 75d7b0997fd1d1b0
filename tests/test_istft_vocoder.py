"""The ``istft`` neural vocoder plugin: shapes, saving/loading, FeatureConfig checks, the plugin contract."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from audiogan.config import FeatureConfig
from audiogan.errors import CheckpointError, ConfigError
from audiogan.plugins import get_registry
from audiogan.vocoder.training import save_vocoder
from audiogan_plugins.istft_vocoder import ISTFTVocoder

# Small layout so every test runs in milliseconds.
FC = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=20)
TINY = {"dim": 16, "intermediate_dim": 32, "num_layers": 2}


def build(config: dict | None = None, fc: FeatureConfig = FC) -> ISTFTVocoder:
    return get_registry().build("vocoder", "istft", {**TINY, **(config or {})}, fc, 0)


def random_mel(batch: int = 2, frames: int = 13, fc: FeatureConfig = FC) -> torch.Tensor:
    return torch.randn(batch, fc.n_mels, frames) - 5.0


def test_registered_as_trainable_builtin() -> None:
    info = get_registry().info("vocoder", "istft")
    assert info.cls is ISTFTVocoder and info.builtin and ISTFTVocoder.trainable


@pytest.mark.parametrize(
    "variant", [{"phase": "angle"}, {"phase": "cossin"}, {"refine_iters": 2, "mel_consistency": 3}]
)
@pytest.mark.parametrize("frames", [1, 2, 13, 40])
def test_output_is_frames_times_hop(variant: dict, frames: int) -> None:
    vocoder = build(variant).eval()
    with torch.no_grad():
        wave = vocoder(random_mel(3, frames))
    assert wave.shape == (3, frames * FC.hop_length)
    assert wave.dtype == torch.float32 and torch.isfinite(wave).all()


def test_matches_front_end_framing_within_one_hop() -> None:
    """Audio of S samples -> S // hop + 1 frames -> the vocoder's output is within one hop of S."""
    from audiogan.features import MelFrontEnd

    front = MelFrontEnd(FC)
    vocoder = build().eval()
    for samples in (1000, 1024, 4097):
        mel = front.log_mel(torch.randn(samples) * 0.1).transpose(1, 2)
        with torch.no_grad():
            out = vocoder(mel)
        assert abs(out.shape[1] - samples) <= FC.hop_length


def test_check_vocoder_contract() -> None:
    testing = pytest.importorskip("audiogan.testing")
    testing.check_vocoder(ISTFTVocoder)


def test_magnitude_is_clamped() -> None:
    vocoder = build({"max_log_mag": 1.0}).eval()
    with torch.no_grad():
        vocoder.head.bias.fill_(50.0)  # a wildly wrong head cannot make infinite audio
        spec = vocoder.spectrum(random_mel())
    assert float(spec.abs().max()) <= torch.e + 1e-4


def test_save_load_round_trip_identical(tmp_path) -> None:
    torch.manual_seed(0)
    vocoder = build({"phase": "cossin"}).eval()
    with torch.no_grad():  # perturb so the loaded weights cannot equal a fresh init by chance
        for p in vocoder.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = save_vocoder(tmp_path / "vocoder.pt", vocoder, step=7)
    mel = random_mel()
    # By path through the Config field, with *default* architecture settings: the file decides.
    loaded = get_registry().build("vocoder", "istft", {"checkpoint": str(path)}, FC, 0).eval()
    assert loaded.config.dim == TINY["dim"] and loaded.config.phase == "cossin"
    with torch.no_grad():
        assert torch.equal(vocoder(mel), loaded(mel))
    # A run folder holding vocoder.pt works too.
    from_run = build({"checkpoint": str(tmp_path)}).eval()
    with torch.no_grad():
        assert torch.equal(vocoder(mel), from_run(mel))


def test_saved_file_follows_the_contract(tmp_path) -> None:
    from audiogan.checkpoint import load_checkpoint

    vocoder = build()
    save_vocoder(tmp_path / "v.pt", vocoder, step=3)
    data = load_checkpoint(tmp_path / "v.pt", kind="vocoder")
    assert data["format"] == "audiogan-vocoder" and data["format_version"] == 1 and data["step"] == 3
    assert set(data["vocoder"]) >= {"name", "plugin", "plugin_version", "config", "state_dict"}
    assert data["vocoder"]["name"] == "istft" and data["vocoder"]["config"]["checkpoint"] is None
    assert FeatureConfig.from_dict(data["feature_config"]) == FC
    # Rebuilding the way generation does (name + config + state_dict) gives the same model.
    rebuilt = get_registry().build("vocoder", "istft", data["vocoder"]["config"], FC, 0)
    rebuilt.load_state_dict(data["vocoder"]["state_dict"])


def test_feature_config_mismatch_names_both_values(tmp_path) -> None:
    save_vocoder(tmp_path / "v.pt", build())
    other = dataclasses.replace(FC, n_mels=24, hop_length=80)
    with pytest.raises(CheckpointError) as err:
        get_registry().build("vocoder", "istft", {"checkpoint": str(tmp_path / "v.pt")}, other, 0)
    message = str(err.value)
    assert "n_mels: saved 20, run 24" in message and "hop_length: saved 64, run 80" in message
    assert "v.pt" in message and "\n" not in message


def test_statistics_do_not_count_as_a_mismatch(tmp_path) -> None:
    """Normalisation statistics differ between datasets; the vocoder keeps the scaling it was trained with."""
    trained = build(fc=dataclasses.replace(FC, mel_mean=[-4.0] * 20, mel_std=[2.0] * 20))
    save_vocoder(tmp_path / "v.pt", trained)
    other = dataclasses.replace(FC, mel_mean=[-6.0] * 20, mel_std=[1.0] * 20)
    loaded = build({"checkpoint": str(tmp_path / "v.pt")}, fc=other)
    assert torch.equal(loaded.in_mean, trained.in_mean)


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build({"checkpoint": str(tmp_path / "nope.pt")})
    from audiogan.checkpoint import save_checkpoint

    save_checkpoint({"format": "audiogan-generator", "format_version": 1}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="audiogan-vocoder"):
        build({"checkpoint": str(tmp_path / "g.pt")})


def test_bad_config_values() -> None:
    with pytest.raises(ConfigError, match="vocoder.kernel_size"):
        build({"kernel_size": 4})
    with pytest.raises(ConfigError, match="vocoder.phase"):
        build({"phase": "complex"})
    with pytest.raises(ConfigError, match="hop_length"):
        build(fc=FeatureConfig(sample_rate=8000, n_fft=256, hop_length=256, n_mels=20))


@pytest.mark.parametrize("variant", [{}, {"phase": "cossin", "refine_iters": 2, "mel_consistency": 2}])
def test_gradients_reach_every_parameter(variant: dict) -> None:
    vocoder = build(variant)
    vocoder(random_mel()).pow(2).mean().backward()
    missing = [n for n, p in vocoder.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


@pytest.mark.parametrize("variant", [{}, {"refine_iters": 2}])
def test_context_frames_covers_the_receptive_field(variant: dict) -> None:
    """Changing a frame further away than context_frames leaves an output frame untouched."""
    vocoder = build(variant).eval()
    mel = random_mel(1, vocoder.context_frames + 20)
    far = mel.clone()
    far[..., 0] += 3.0  # frame 0 changes
    with torch.no_grad():
        a, b = vocoder(mel), vocoder(far)
    hop = FC.hop_length
    first_free = vocoder.context_frames + 1  # frames from here on cannot see frame 0
    assert torch.allclose(a[:, first_free * hop :], b[:, first_free * hop :], atol=1e-6)
    assert not torch.allclose(a[:, :hop], b[:, :hop])


def stft_magnitude(wave: torch.Tensor, vocoder: ISTFTVocoder) -> torch.Tensor:
    return torch.stft(
        wave, vocoder.n_fft, vocoder.hop_length, vocoder.win_length, vocoder.window, return_complex=True
    ).abs()


def test_refinement_makes_the_spectrum_consistent() -> None:
    """The projections bring the re-analysed output's magnitude towards the predicted magnitude."""
    torch.manual_seed(0)
    errors = {}
    for iters in (0, 8):
        vocoder = build({"refine_iters": iters}).eval()
        torch.manual_seed(1)
        vocoder.apply(vocoder._init_weights)  # same weights for both
        with torch.no_grad():
            mel = random_mel(2, 30)
            wave, magnitude = vocoder(mel, return_magnitude=True)
            rebuilt = stft_magnitude(wave, vocoder)[..., : mel.shape[-1]]
            errors[iters] = float((rebuilt - magnitude)[..., 4:-4].norm() / magnitude[..., 4:-4].norm())
    assert errors[8] < 0.7 * errors[0], errors


def test_mel_consistency_pulls_the_magnitude_onto_the_input_mel() -> None:
    errors = {}
    for updates in (0, 30):
        vocoder = build({"mel_consistency": updates}).eval()
        torch.manual_seed(1)
        vocoder.apply(vocoder._init_weights)
        with torch.no_grad():
            mel = random_mel(2, 10)
            _, magnitude = vocoder(mel, return_magnitude=True)
            rebuilt = torch.matmul(vocoder.mel_basis.T, magnitude)
            errors[updates] = float((rebuilt.clamp_min(1e-5).log() - mel).abs().mean())
    assert errors[30] < 0.5 * errors[0], errors


def test_return_magnitude_shape_and_refine_validation() -> None:
    vocoder = build({"refine_iters": 1}).eval()
    with torch.no_grad():
        wave, magnitude = vocoder(random_mel(3, 9), return_magnitude=True)
    assert wave.shape == (3, 9 * FC.hop_length) and magnitude.shape == (3, FC.n_fft // 2 + 1, 9)
    assert bool((magnitude >= 0).all())
    with pytest.raises(ConfigError, match="vocoder.refine_iters"):
        build({"refine_iters": -1})
    with pytest.raises(ConfigError, match="vocoder.mel_consistency"):
        build({"mel_consistency": -2})


def test_files_saved_before_refinement_load_without_it(tmp_path) -> None:
    """A vocoder.pt whose config predates refine_iters / mel_consistency was trained without them."""
    from audiogan.checkpoint import load_checkpoint, save_checkpoint

    vocoder = build({"refine_iters": 0, "mel_consistency": 0}).eval()
    path = save_vocoder(tmp_path / "v.pt", vocoder)
    data = load_checkpoint(path, kind="vocoder")
    for key in ("refine_iters", "mel_consistency", "refine_momentum"):
        del data["vocoder"]["config"][key]
    save_checkpoint(data, tmp_path / "old.pt")
    loaded = build({"checkpoint": str(tmp_path / "old.pt")}).eval()
    assert loaded.config.refine_iters == 0 and loaded.config.mel_consistency == 0
    mel = random_mel()
    with torch.no_grad():
        assert torch.equal(loaded(mel), vocoder(mel))


def test_refine_iters_can_be_changed_when_loading(tmp_path) -> None:
    """The saved value by default; an explicit one wins (it trades speed for consistency; same weights)."""
    path = save_vocoder(tmp_path / "v.pt", build({"refine_iters": 2}))
    from audiogan_plugins.istft_vocoder import DEFAULT_REFINE_ITERS

    assert build().config.refine_iters == DEFAULT_REFINE_ITERS > 0  # a new vocoder's default
    assert build({"checkpoint": str(path)}).config.refine_iters == 2
    assert build({"checkpoint": str(path), "refine_iters": 5}).config.refine_iters == 5
