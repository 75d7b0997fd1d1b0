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
from audiogan_plugins.griffinlim import GriffinLimVocoder, griffin_lim, mel_basis

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
        sample_rate=fc.sample_rate,
        n_fft=fc.n_fft,
        hop_length=fc.hop_length,
        win_length=fc.win,
        f_min=fc.f_min,
        f_max=fc.f_max,
        n_mels=fc.n_mels,
        power=1.0,
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


def test_a_clip_is_bit_identical_alone_and_in_any_batch():
    # The random initial phase is one (F, T) pattern for every row, so a clip's audio does not
    # depend on its batch position or neighbours; the Synthesizer then batches Griffin-Lim.
    mel = _log_mel(_tones(batch=3, seconds=0.3))
    vocoder = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=40), FC)  # default momentum, random init
    batched = vocoder(mel)
    for i in range(3):
        assert torch.equal(batched[i : i + 1], vocoder(mel[i : i + 1])), i
    assert torch.equal(vocoder(mel[[2, 0]]), batched[[2, 0]])
    # Different rows still get different audio (the shared pattern is a start, not an output).
    assert not torch.equal(batched[0], batched[1])


def test_synthesizer_batches_griffin_lim():
    from audiogan.generation.synthesizer import Synthesizer

    fc = FeatureConfig(
        sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, mel_mean=[-5.0] * 32, mel_std=[2.0] * 32
    )
    generator = get_registry().build("generator", "lstm", {"hidden_size": 16, "num_layers": 1}, fc, 0)
    vocoder = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8), fc)
    synth = Synthesizer(generator, fc, vocoder, vocoder_name="griffinlim")
    assert synth.batch_invariant() is True  # so generate() vocodes whole batches, not one clip per call
    together = synth.generate(3, 0.2, seed=5, batch_size=3, normalise=False)
    apart = synth.generate(3, 0.2, seed=5, batch_size=1, normalise=False)
    for x, y in zip(together, apart):
        assert (x == y).all()


def test_sparse_inverse_mel_matches_the_dense_computation():
    # CSR products in (F, frames) layout must compute the plain dense NNLS refinement.
    mel = torch.exp(_log_mel(_tones()))
    vocoder = GriffinLimVocoder(None, FC)
    a = vocoder.basis.T  # (M, F)
    linear = (torch.linalg.pinv(a.double()).float() @ mel).clamp_min(1e-8)
    numerator = a.T @ mel
    for _ in range(vocoder.config.nnls_iter):
        linear = linear * numerator / (a.T @ (a @ linear)).clamp_min(1e-12)
    torch.testing.assert_close(vocoder.mel_to_linear(mel), linear, rtol=1e-4, atol=1e-6)


def test_matches_torch_istft_and_stft_griffin_lim():
    # The irfft + overlap-add / reflect + unfold + rfft loop computes what torch.istft / torch.stft
    # would, on windows shorter than n_fft and on hops that do not divide it too.
    torch.manual_seed(0)
    for n_fft, hop, win in ((256, 64, 256), (256, 64, 200), (250, 64, 250), (256, 100, 256)):
        magnitude = torch.rand(1, n_fft // 2 + 1, 30, dtype=torch.float64)
        window = torch.hann_window(win, dtype=torch.float64)
        ours = griffin_lim(magnitude, window, n_fft, hop, n_iter=6, momentum=0.99, seed=3)
        stft_args = dict(n_fft=n_fft, hop_length=hop, win_length=win, window=window)
        gen = torch.Generator().manual_seed(3)
        angles = torch.polar(
            torch.ones_like(magnitude),
            torch.rand(magnitude.shape, generator=gen, dtype=torch.float64) * 2 * math.pi,
        )
        previous, length = None, 29 * hop
        for _ in range(6):
            rebuilt = torch.stft(
                torch.istft(magnitude * angles, length=length, **stft_args),
                return_complex=True,
                pad_mode="reflect",
                **stft_args,
            )
            accelerated = rebuilt if previous is None else rebuilt + 0.99 * (rebuilt - previous)
            previous, angles = rebuilt, accelerated / accelerated.abs().clamp_min(1e-16)
        reference = torch.istft(magnitude * angles, length=length, **stft_args)
        torch.testing.assert_close(ours, reference, atol=1e-9, rtol=1e-7)


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
