"""The mel front end: shapes, scale (against librosa), normalisation round trip, frame maths."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from audiogan.config import FeatureConfig
from audiogan.errors import ConfigError
from audiogan.features import MelFrontEnd, frames_to_samples, samples_to_frames

FC = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)


def stats_config(fc: FeatureConfig = FC) -> FeatureConfig:
    rng = np.random.default_rng(0)
    return FeatureConfig(
        **{
            **fc.to_dict(),
            "mel_mean": rng.normal(-5, 1, fc.n_mels).tolist(),
            "mel_std": rng.uniform(1, 3, fc.n_mels).tolist(),
        }
    )


@pytest.mark.parametrize("n_samples", [1, 10, 300, 16000])
def test_log_mel_shapes(n_samples):
    fe = MelFrontEnd(FC)
    one = fe.log_mel(torch.zeros(n_samples))
    assert one.shape == (1, samples_to_frames(n_samples, FC), FC.n_mels)
    assert one.shape[1] == n_samples // FC.hop_length + 1
    batch = fe.log_mel(torch.randn(3, n_samples))
    assert batch.shape == (3, one.shape[1], FC.n_mels) and batch.dtype == torch.float32


def test_fast_path_matches_autograd_path():
    fe = MelFrontEnd(FC)
    wave = torch.randn(2, 3000) * 0.2
    fast = fe.log_mel(wave)
    with_grad = wave.clone().requires_grad_(True)
    slow = fe.log_mel(with_grad)
    torch.testing.assert_close(fast, slow.detach(), atol=1e-4, rtol=1e-4)
    slow.sum().backward()  # the differentiable path stays finite, also through silence
    silent = torch.zeros(1, 3000, requires_grad=True)
    fe.log_mel(silent).sum().backward()
    assert torch.isfinite(with_grad.grad).all() and torch.isfinite(silent.grad).all()


def test_silence_sits_at_the_floor():
    fe = MelFrontEnd(FC)
    out = fe.log_mel(torch.zeros(2000))
    assert torch.allclose(out, torch.full_like(out, math.log(FC.log_floor)))
    assert fe.floor_value == pytest.approx(math.log(1e-5))


def test_matches_librosa_magnitude_mel():
    t = np.arange(8000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 700 * t) + 0.05 * np.random.default_rng(1).standard_normal(8000)).astype(
        np.float32
    )
    ours = MelFrontEnd(FC).log_mel(torch.from_numpy(x))[0].numpy()
    ref = librosa.feature.melspectrogram(
        y=x,
        sr=16000,
        n_fft=512,
        hop_length=128,
        n_mels=40,
        power=1.0,
        htk=True,
        norm=None,
        pad_mode="constant",
    )
    ref = np.log(np.maximum(ref, FC.log_floor)).T
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) < 1e-2
    # and the loudest bin is the one holding 700 Hz
    centres = librosa.mel_frequencies(n_mels=42, fmin=0, fmax=8000, htk=True)[1:-1]
    assert abs(centres[ours.mean(axis=0).argmax()] - 700) < 150


def test_normalise_round_trip_and_vocoder_layout():
    fc = stats_config()
    fe = MelFrontEnd(fc)
    log_mel = fe.log_mel(torch.randn(2, 4000) * 0.1)
    x = fe.normalise(log_mel)
    torch.testing.assert_close(fe.denormalise(x), log_mel, atol=1e-4, rtol=1e-5)
    voc = fe.to_vocoder(x)
    assert voc.shape == (2, fc.n_mels, log_mel.shape[1])
    torch.testing.assert_close(voc, log_mel.transpose(1, 2), atol=1e-4, rtol=1e-5)
    linear = fe.to_linear_mel(x)
    torch.testing.assert_close(linear, fe.mel(torch.zeros(1)).new_tensor(voc.exp().numpy()))
    assert linear.min() >= fc.log_floor * 0.999
    torch.testing.assert_close(fe.features(torch.zeros(100)), fe(torch.zeros(100)))
    expected = (log_mel[0, 0, 0] - fc.mel_mean[0]) / (fc.norm_scale * fc.mel_std[0])
    assert x[0, 0, 0].item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_stats_is_a_config_error():
    fe = MelFrontEnd(FC)
    assert not fe.has_stats
    with pytest.raises(ConfigError, match="mel_mean"):
        fe.normalise(torch.zeros(1, 2, FC.n_mels))
    with pytest.raises(ValueError, match="to_vocoder"):
        MelFrontEnd(stats_config()).to_vocoder(torch.zeros(2, FC.n_mels))


def test_state_dict_is_empty_and_module_moves():
    fe = MelFrontEnd(stats_config())
    assert fe.state_dict() == {}  # everything is rebuilt from the FeatureConfig
    fe = fe.to(torch.float32)
    assert fe.mel_mean.shape == (FC.n_mels,)


def test_frame_sample_conversions():
    assert frames_to_samples(10, FC) == 1280
    assert samples_to_frames(1280, FC) == 11
    assert samples_to_frames(frames_to_samples(7, FC) - 1, FC) == 7
