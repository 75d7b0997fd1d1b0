"""PGHI (Phase Gradient Heap Integration) as Griffin-Lim's initial phase, against a numpy reference.

The reference here is written independently of the plugin and kept simple and slow: numpy
derivatives and a walk on Python's heapq over ``(-log magnitude, frame, bin)`` tuples.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
import torch

from audiogan import FeatureConfig
from audiogan.errors import ConfigError
from audiogan_plugins.griffinlim import (
    GriffinLimVocoder,
    _heap_walk,
    _walker,
    griffin_lim,
    pghi_gradients,
    pghi_phase,
    random_phase,
)

FC = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference_gradients(mag: np.ndarray, n_fft: int, hop: int, win: int, tol: float):
    """``(log_mag, per-frame step, per-bin step, mask)`` for one clip's magnitude ``(T, F)``."""
    floor = max(mag.max() * tol, np.finfo(mag.dtype).tiny)
    s = np.log(np.maximum(mag, floor))
    lam = 0.25645 * win**2  # Gaussian equivalent of a Hann window of length win, in samples^2
    # |X(k)| of a real signal is even about k = 0 and k = n_fft / 2: reflect at both ends
    # (for an odd n_fft the bin past the last one mirrors the last one itself).
    padded = np.concatenate([s[:, 1:2], s, s[:, -2:-1] if n_fft % 2 == 0 else s[:, -1:]], axis=1)
    ds_dk = (padded[:, 2:] - padded[:, :-2]) / 2
    ds_dm = np.gradient(s, axis=0) if s.shape[0] > 1 else np.zeros_like(s)
    k = np.arange(s.shape[1])
    centre = (n_fft - win) // 2 + win / 2  # torch.stft's phase is referred to the frame start
    time_step = hop * n_fft / lam * ds_dk + 2 * np.pi * hop * k / n_fft
    freq_step = -lam / (n_fft * hop) * ds_dm - 2 * np.pi * centre / n_fft
    return s, time_step, freq_step, mag > floor


def reference_pghi(mag: np.ndarray, n_fft: int, hop: int, win: int, tol: float = 1e-5):
    """Integrated phase ``(T, F)`` (0 where not integrated) and the mask of integrated bins."""
    s, dt, df, mask = reference_gradients(mag, n_fft, hop, win, tol)
    return reference_walk(s, dt, df, mask), mask


def reference_walk(s: np.ndarray, dt: np.ndarray, df: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The heap integration over the ``mask`` bins of ``(T, F)`` arrays, loudest region first."""
    n_frames, n_freqs = s.shape
    phase = np.zeros_like(s)
    done = ~mask
    while not done.all():
        root = np.unravel_index(np.argmax(np.where(done, -np.inf, s)), s.shape)
        done[root] = True
        heap = [(-s[root], *root)]
        while heap:
            _, t, f = heapq.heappop(heap)
            for tt, ff, step in (
                (t + 1, f, (dt[t, f] + dt[min(t + 1, n_frames - 1), f]) / 2),
                (t - 1, f, -(dt[t, f] + dt[max(t - 1, 0), f]) / 2),
                (t, f + 1, (df[t, f] + df[t, min(f + 1, n_freqs - 1)]) / 2),
                (t, f - 1, -(df[t, f] + df[t, max(f - 1, 0)]) / 2),
            ):
                if 0 <= tt < n_frames and 0 <= ff < n_freqs and not done[tt, ff]:
                    done[tt, ff] = True
                    phase[tt, ff] = phase[t, f] + step
                    heapq.heappush(heap, (-s[tt, ff], tt, ff))
    return phase


def wrapped(x: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * x))


def stft(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """The vocoder's layout: Hann of ``win`` centred in ``n_fft``, centred frames, onesided."""
    window = torch.hann_window(win, dtype=wave.dtype)
    return torch.stft(wave, n_fft, hop, win, window, return_complex=True, pad_mode="reflect")


def chirp_and_tones(seconds: float = 0.5, sample_rate: int = 8000) -> torch.Tensor:
    """A rising chirp plus two steady tones, float64 ``(S,)``."""
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    chirp = torch.sin(2 * math.pi * (300 * t + 1200 * t**2))
    return chirp + 0.5 * torch.sin(2 * math.pi * 1000 * t) + 0.3 * torch.sin(2 * math.pi * 2500 * t + 1.0)


def random_ish_magnitude(n_fft: int, hop: int, win: int, batch: int = 3) -> torch.Tensor:
    """``(B, F, T)`` float64: STFT magnitudes of noise plus tones, with silent stretches and a silent
    band, so that the tolerance splits the plane into several regions."""
    gen = torch.Generator().manual_seed(7)
    noise = torch.randn(batch, 1300, generator=gen, dtype=torch.float64)
    mag = stft(noise + chirp_and_tones(1300 / 8000)[None], n_fft, hop, win).abs()
    mag[:, :, 6:8] = 0.0  # frames without sound
    mag[1, 10:14, :] = 0.0  # a band without sound in one clip
    mag[2] *= 1e3  # another scale
    return mag


@pytest.mark.parametrize("n_fft,hop,win", [(64, 16, 64), (64, 16, 48), (63, 16, 63)])
def test_gradients_and_phase_equal_the_numpy_reference(n_fft: int, hop: int, win: int) -> None:
    mag = random_ish_magnitude(n_fft, hop, win)
    ours = pghi_gradients(mag.transpose(1, 2), n_fft, hop, win)
    phase = pghi_phase(mag, n_fft, hop, win, seed=4)
    assert phase.shape == mag.shape and phase.dtype == mag.dtype
    fill = random_phase(mag.shape[1], mag.shape[2], 4, mag.device, mag.dtype).numpy()  # (T, F)
    for b in range(mag.shape[0]):
        rows = mag[b].T.numpy()
        for got, want in zip(ours, reference_gradients(rows, n_fft, hop, win, 1e-5)):
            np.testing.assert_allclose(got[b].numpy(), want, rtol=1e-12, atol=1e-9)
        want_phase, mask = reference_pghi(rows, n_fft, hop, win)
        assert 0 < mask.sum() < mask.size  # the tolerance does leave bins out
        got_phase = phase[b].T.numpy()
        # The heap order is unambiguous (no ties): the same phase everywhere, up to rounding.
        np.testing.assert_allclose(wrapped(got_phase - want_phase)[mask], 0.0, atol=1e-8)
        # Below the tolerance: the seeded random pattern of Griffin-Lim's random start.
        np.testing.assert_array_equal(got_phase[~mask], fill[~mask])


def test_compiled_walk_equals_the_plain_python_one() -> None:
    # The walk runs through numba; without numba the same function runs as plain Python.
    rng = np.random.default_rng(0)
    n_frames, n_freqs = 12, 9  # and the numpy reference's walk, on the same keys and steps
    key, time_step, freq_step = (rng.standard_normal(n_frames * n_freqs) for _ in range(3))
    key[[5, 40, 41]] = key[7]  # ties too: broken by the lower bin index in both
    skip = rng.random(n_frames * n_freqs) < 0.2
    plain = _heap_walk(key, time_step, freq_step, skip, n_freqs)
    compiled = _walker()(key, time_step, freq_step, skip, n_freqs)
    np.testing.assert_array_equal(plain, compiled)
    assert (plain[skip] == 0).all() and np.isfinite(plain).all()
    shape = (n_frames, n_freqs)
    reference = reference_walk(*(x.reshape(shape) for x in (key, time_step, freq_step, ~skip)))
    np.testing.assert_allclose(compiled.reshape(shape), reference, rtol=0, atol=1e-12)


def spectral_convergence(
    wave: torch.Tensor, magnitude: torch.Tensor, n_fft: int, hop: int, win: int
) -> float:
    rebuilt = stft(wave, n_fft, hop, win).abs()
    return float(torch.linalg.norm(rebuilt - magnitude) / torch.linalg.norm(magnitude))


@pytest.mark.parametrize("n_fft,hop,win", [(256, 64, 256), (256, 64, 201), (250, 64, 250)])
def test_pghi_from_the_true_magnitude_beats_a_random_start(n_fft: int, hop: int, win: int) -> None:
    wave = chirp_and_tones()
    magnitude = stft(wave, n_fft, hop, win).abs()[None]  # (1, F, T)
    window = torch.hann_window(win, dtype=torch.float64)
    phase = pghi_phase(magnitude, n_fft, hop, win)
    start = torch.polar(torch.ones_like(phase), phase)
    errors = {}
    for n_iter in (0, 8):
        for name, init in (("random", "random"), ("pghi", start)):
            out = griffin_lim(magnitude, window, n_fft, hop, n_iter, 0.99, init=init)
            errors[name, n_iter] = spectral_convergence(out[0], magnitude[0], n_fft, hop, win)
    # Measured: PGHI alone 0.12-0.15 against 0.62-0.64 for the random phase; after 8 fast
    # Griffin-Lim iterations 0.07-0.10 against 0.14-0.17.
    assert errors["pghi", 0] < 0.25, errors
    assert errors["pghi", 0] < 0.35 * errors["random", 0], errors
    assert errors["pghi", 8] < 0.7 * errors["random", 8], errors


def test_the_phase_is_referred_to_the_frame_start() -> None:
    # The PGHI phase is a good fit only with the right conventions: flipping the frequency-step
    # sign (the phase referred to the window centre, not torch.stft's frame start) ruins it.
    n_fft, hop, win = 256, 64, 200
    wave = chirp_and_tones()
    magnitude = stft(wave, n_fft, hop, win).abs()[None]
    window = torch.hann_window(win, dtype=torch.float64)
    right = pghi_phase(magnitude, n_fft, hop, win)
    k = torch.arange(magnitude.shape[1], dtype=torch.float64)[:, None]
    shifted = right + 2 * math.pi * ((n_fft - win) // 2 + win / 2) / n_fft * k  # centre-referred
    errors = []
    for phase in (right, shifted):
        out = griffin_lim(
            magnitude, window, n_fft, hop, 0, 0.0, init=torch.polar(torch.ones_like(phase), phase)
        )
        errors.append(spectral_convergence(out[0], magnitude[0], n_fft, hop, win))
    assert errors[0] < 0.5 * errors[1], errors


def _log_mel(wave: torch.Tensor) -> torch.Tensor:
    from audiogan.features import MelFrontEnd

    return MelFrontEnd(FC).log_mel(wave.float()).transpose(1, 2)  # (B, M, T)


def test_vocoder_pghi_batched_single_and_odd_lengths() -> None:
    tone = chirp_and_tones(0.4)[:3101]  # an odd sample count, 49 frames
    waves = torch.stack([tone, 0.5 * tone.flip(0), torch.zeros_like(tone)])  # the last one silent
    mel = _log_mel(waves)
    assert mel.shape[-1] == 49
    vocoder = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, init="pghi"), FC)
    batched = vocoder(mel)
    assert batched.shape == (3, (mel.shape[-1] - 1) * FC.hop_length) and bool(torch.isfinite(batched).all())
    for i in range(3):  # B = 1, and a clip's audio does not depend on its batch
        assert torch.equal(vocoder(mel[i : i + 1]), batched[i : i + 1]), i
    assert torch.equal(vocoder(mel[0]), batched[:1])  # an unbatched (M, T) mel
    for n_frames in (21, 5):  # odd frame counts, down to a short clip
        out = vocoder(mel[:2, :, :n_frames])
        assert out.shape == (2, (n_frames - 1) * FC.hop_length) and bool(torch.isfinite(out).all())
    assert batched.abs().max() > 0.05  # sound, not silence
    assert vocoder(mel.double()).dtype == torch.float64


def glide(batch: int = 2, seconds: float = 0.5) -> torch.Tensor:
    """Harmonic tones with a slow glide, different per row (speech-like partials), float32 ``(B, S)``."""
    t = torch.arange(int(FC.sample_rate * seconds)) / FC.sample_rate
    rows = []
    for b in range(batch):
        phase = 2 * math.pi * torch.cumsum(180.0 + 70.0 * b + 40.0 * t, 0) / FC.sample_rate
        rows.append(sum(torch.sin(k * phase) / k for k in range(1, 6)) * 0.3)
    return torch.stack(rows)


def test_vocoder_pghi_start_is_closer_to_the_input_mel() -> None:
    mel = _log_mel(glide())
    errors = {}
    for init in ("random", "pghi"):
        out = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, init=init), FC)(mel)
        errors[init] = float((_log_mel(out) - mel).abs().mean())
    # Measured: 0.28 nats of mean log-mel error from the PGHI start, 0.40 from the random one
    # (0.29 and 0.36 after 32 iterations).
    assert errors["pghi"] < 0.85 * errors["random"], errors


def test_pghi_is_a_validated_choice() -> None:
    from audiogan.plugins import get_registry

    assert GriffinLimVocoder.Config(init="pghi").init == "pghi"
    get_registry().build("vocoder", "griffinlim", {"init": "pghi"}, FC, 0)
    with pytest.raises(ConfigError, match="vocoder.init"):
        GriffinLimVocoder.Config(init="gradient")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="vocoder.init"):
        get_registry().build("vocoder", "griffinlim", {"init": "PGHI"}, FC, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pghi_on_cuda_returns_there_and_matches_the_cpu() -> None:
    magnitude = stft(chirp_and_tones(), 256, 64, 256).abs()[None].repeat(2, 1, 1)
    on_cpu = pghi_phase(magnitude, 256, 64, 256)
    on_gpu = pghi_phase(magnitude.cuda(), 256, 64, 256)
    assert on_gpu.is_cuda and on_gpu.dtype == torch.float64
    torch.testing.assert_close(
        torch.polar(torch.ones_like(on_cpu), on_cpu),
        torch.polar(torch.ones_like(on_gpu), on_gpu).cpu(),
        atol=1e-6,
        rtol=0,
    )
    mel = _log_mel(chirp_and_tones()[None].repeat(2, 1))
    vocoder = GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=8, init="pghi"), FC).to("cuda")
    out = vocoder(mel.cuda())
    assert out.is_cuda and out.shape == (2, (mel.shape[-1] - 1) * FC.hop_length)
    assert bool(torch.isfinite(out).all())
