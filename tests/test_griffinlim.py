"""The built-in Griffin-Lim vocoder: contract, exact mel basis, determinism, batching, quality."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio

from audiogan import FeatureConfig
from audiogan.contracts import check_vocoder_output
from audiogan.errors import ConfigError
from audiogan.plugins import get_registry
from audiogan_plugins.griffinlim import GriffinLimVocoder, mel_basis

FC = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _front_end(fc: FeatureConfig) -> torchaudio.transforms.MelSpectrogram:
    # The front end's documented recipe: torchaudio MelSpectrogram, magnitude (power 1), centred.
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=fc.sample_rate, n_fft=fc.n_fft, hop_length=fc.hop_length, win_length=fc.win,
        f_min=fc.f_min, f_max=fc.f_max, n_mels=fc.n_mels, power=1.0,
    )


def _log_mel(wave: torch.Tensor, fc: FeatureConfig = FC) -> torch.Tensor:
    return torch.log(_front_end(fc)(wave).clamp_min(fc.log_floor))  # (B, M, T)


def _tones(batch: int = 2, seconds: float = 0.5) -> torch.Tensor:
    """Harmonic tones with a slow glide, different per row: speech-like partials without data."""
    t = torch.arange(int(FC.sample_rate * seconds)) / FC.sample_rate
    rows = []
    for b in range(batch):
        f0 = 180.0 + 70.0 * b + 40.0 * t
        phase = 2 * math.pi * torch.cumsum(f0, 0) / FC.sample_rate
        rows.append(sum(torch.sin(k * phase) / k for k in range(1, 6)) * 0.3)
    return torch.stack(rows)


def test_registered_as_builtin_with_documented_defaults():
    info = get_registry().info("vocoder", "griffinlim")
    assert info.cls is GriffinLimVocoder and info.builtin and info.plugin == "griffinlim"
    assert info.distribution == "audiogan"
    config = GriffinLimVocoder.Config()
    assert config.n_iter == 32 and config.momentum == 0.99
    assert GriffinLimVocoder.trainable is False


def test_uses_the_front_ends_exact_mel_basis():
    from audiogan.features import MelFrontEnd

    front = MelFrontEnd(FC)
    torch.testing.assert_close(mel_basis(FC), front.mel.mel_scale.fb)
    torch.testing.assert_close(mel_basis(FC), _front_end(FC).mel_scale.fb)
    # Copy synthesis through the project's own front end: (B, T, M) -> (B, M, T) -> audio -> same mel.
    wave = _tones(batch=1)
    log_mel = front.log_mel(wave).transpose(1, 2)
    out = GriffinLimVocoder(None, FC)(log_mel)
    assert (front.log_mel(out).transpose(1, 2) - log_mel).abs().mean() < 0.45
    fc = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40, f_min=50.0, f_max=7000.0)
    torch.testing.assert_close(mel_basis(fc), _front_end(fc).mel_scale.fb)


def test_output_contract_length_and_no_state():
    vocoder = get_registry().build("vocoder", "griffinlim", {"n_iter": 4}, FC, 0)
    mel = _log_mel(_tones())
    wave = vocoder(mel)
    check_vocoder_output(vocoder, wave, batch=2, n_frames=mel.shape[-1])
    assert wave.shape == (2, (mel.shape[-1] - 1) * FC.hop_length)
    assert wave.dtype == torch.float32
    assert vocoder.state_dict() == {}  # nothing to save: rebuilt from Config + FeatureConfig


def test_deterministic_by_seed_and_batch_independent():
    mel = _log_mel(_tones(batch=3))
    a = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, seed=1), FC)
    b = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, seed=1), FC)
    c = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, seed=2), FC)
    assert torch.equal(a(mel), b(mel))
    assert not torch.equal(a(mel), c(mel))
    zeros = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, init="zeros"), FC)
    batched = zeros(mel)
    single = zeros(mel[1:2])  # zero-phase start: each row's result cannot depend on the others
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-4)


def test_copy_synthesis_keeps_the_spectrum():
    wave = _tones(batch=2)
    mel = _log_mel(wave)
    vocoder = GriffinLimVocoder(None, FC)
    out = vocoder(mel)
    error = (_log_mel(out) - mel).abs().mean().item()
    # Measured: 0.37 nats of mean log-mel error here; plain Griffin-Lim with the bare pseudo-inverse
    # gives 0.77, a wrong mel basis 2.6, the output one hop late 0.47.
    assert error < 0.45, error
    plain = GriffinLimVocoder(GriffinLimVocoder.Config(momentum=0.0, nnls_iter=0), FC)
    assert error < (_log_mel(plain(mel)) - mel).abs().mean().item()


def test_more_iterations_reduce_inconsistency():
    mel = _log_mel(_tones(batch=1))
    errors = []
    for n_iter in (0, 16):
        out = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=n_iter, init="zeros"), FC)(mel)
        errors.append((_log_mel(out) - mel).abs().mean().item())
    assert errors[1] < errors[0]


@pytest.mark.parametrize("bad", [{"n_iter": -1}, {"momentum": 1.5}, {"nnls_iter": -2}, {"init": "noise"}])
def test_bad_config_is_a_one_line_config_error(bad):
    with pytest.raises(ConfigError, match="vocoder"):
        get_registry().build("vocoder", "griffinlim", bad, FC, 0)


def test_accepts_an_unbatched_mel_and_float64():
    mel = _log_mel(_tones(batch=1))[0].double()
    out = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=2), FC)(mel)
    assert out.shape == (1, (mel.shape[-1] - 1) * FC.hop_length) and out.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_where_the_tensors_are_cuda():
    mel = _log_mel(_tones())
    vocoder = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8), FC)
    out = vocoder.to("cuda")(mel.cuda())
    assert out.is_cuda and out.shape == (2, (mel.shape[-1] - 1) * FC.hop_length)
    cpu_vocoder_gpu_input = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8), FC)(mel.cuda())
    assert cpu_vocoder_gpu_input.is_cuda
    assert bool(torch.isfinite(out).all())
