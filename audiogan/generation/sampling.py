"""Building blocks of generation: per-clip latents and RNG streams, slerp, overlap vocoding, trimming.

Shapes: B = batch, T = frames, M = n_mels, S = samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from audiogan.config import FeatureConfig

__all__ = [
    "FADE_OUT_MS",
    "OverlapVocoder",
    "RngStream",
    "crossfade_samples",
    "dbfs",
    "fade_out",
    "fit_length",
    "latent",
    "slerp",
    "trim_silence",
    "vocode_long",
    "window_context_frames",
]


def latent(seed: int, dim: int, truncation: float | None = None) -> torch.Tensor:
    """The latent ``z (dim,)`` of clip ``seed``: standard normal, or truncated to ``[-t, t]``."""
    g = torch.Generator().manual_seed(int(seed))
    if truncation is None:
        return torch.randn(dim, generator=g)
    return nn.init.trunc_normal_(torch.empty(dim), 0.0, 1.0, -truncation, truncation, generator=g)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents; ``t=0`` returns ``a`` and ``t=1`` returns ``b`` exactly."""
    if t <= 0.0:
        return a.clone()
    if t >= 1.0:
        return b.clone()
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if float(torch.sin(omega)) < 1e-6:  # (anti)parallel: fall back to a straight line
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class RngStream:
    """A private copy of torch's global RNG (CPU, plus CUDA on a GPU) seeded with one clip's seed."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.index = (
            device.index if device.index is not None else (torch.cuda.current_device() if self.cuda else None)
        )
        with torch.random.fork_rng(devices=[self.index] if self.cuda else []):
            torch.manual_seed(int(seed))
            self.cpu_state = torch.get_rng_state()
            self.cuda_state = torch.cuda.get_rng_state(self.index) if self.cuda else None

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` with this stream as the global RNG; the caller's RNG is left untouched."""
        with torch.random.fork_rng(devices=[self.index] if self.cuda else []):
            torch.set_rng_state(self.cpu_state)
            if self.cuda:
                torch.cuda.set_rng_state(self.cuda_state, self.index)
            out = fn()
            self.cpu_state = torch.get_rng_state()
            if self.cuda:
                self.cuda_state = torch.cuda.get_rng_state(self.index)
        return out


class OverlapVocoder:
    """Vocodes an endless frame sequence window by window with overlap, so the seams do not show.

    Each window spans the new frames plus ``context`` frames on either side; only the samples of
    the new frames are emitted, and the first ``crossfade`` samples are blended (raised cosine)
    with what the previous window made for the same samples. A deterministic vocoder whose
    receptive field fits in the context gives exactly the one-shot waveform; Griffin-Lim, whose
    phase is a global solution, gives the same spectrogram with a phase that differs between
    windows, which the crossfade hides.

    :param vocode: ``(B, M, T)`` log-mel -> ``(B, S)``; sample ``j`` belongs at ``frame0 * hop + j``.
    """

    def __init__(
        self, vocode: Callable[[torch.Tensor], torch.Tensor], hop: int, context: int, crossfade: int
    ) -> None:
        self.vocode, self.hop, self.context = vocode, hop, int(context)
        self.crossfade = max(0, min(int(crossfade), self.context * hop))
        fade = torch.linspace(0.0, 1.0, self.crossfade + 2)[1:-1] if self.crossfade else torch.zeros(0)
        self.fade_in = 0.5 - 0.5 * torch.cos(math.pi * fade)
        self.buffer: torch.Tensor | None = None  # (B, M, T) frames from global index buffer_start
        self.buffer_start = 0
        self.emitted = 0  # frames whose samples are out
        self.tail: torch.Tensor | None = None  # previous window's samples after the last emitted one

    def push(self, mel: torch.Tensor, final: bool = False) -> torch.Tensor:
        """Add frames ``(B, M, t)``; return the samples ``(B, s)`` now final (``final``: flush all)."""
        self.buffer = mel if self.buffer is None else torch.cat([self.buffer, mel], dim=-1)
        received = self.buffer_start + self.buffer.shape[-1]
        end = received if final else received - self.context
        if end <= self.emitted:
            return self.buffer.new_zeros(self.buffer.shape[0], 0)
        w0 = max(self.buffer_start, self.emitted - self.context)
        wave = self.vocode(self.buffer[..., w0 - self.buffer_start :])
        need = (received - w0) * self.hop
        if wave.shape[-1] < need:  # e.g. Griffin-Lim returns (T - 1) * hop: the rest is silence
            wave = nn.functional.pad(wave, (0, need - wave.shape[-1]))
        a, b = (self.emitted - w0) * self.hop, (end - w0) * self.hop
        out = wave[:, a:b].clone()
        if self.tail is not None and self.crossfade:
            n = min(self.crossfade, out.shape[-1], self.tail.shape[-1])
            fade = self.fade_in[:n].to(out.device, out.dtype)
            out[:, :n] = fade * out[:, :n] + (1 - fade) * self.tail[:, :n]
        self.tail = wave[:, b : b + self.crossfade].clone()
        self.emitted = end
        keep_from = max(self.buffer_start, end - self.context)
        self.buffer = self.buffer[..., keep_from - self.buffer_start :]
        self.buffer_start = keep_from
        return out


def crossfade_samples(feature_config: FeatureConfig) -> int:
    """Crossfade length between vocoding windows: two hops."""
    return 2 * feature_config.hop_length


def window_context_frames(feature_config: FeatureConfig, vocoder: nn.Module) -> int:
    """Frames of context either side of a vocoding window.

    Covers the STFT window twice and, for vocoders that declare ``context_frames`` (the
    receptive field of a convolutional vocoder such as ``istft``), that much plus the crossfade,
    so a windowed render equals a one-shot render rather than only hiding the seam in the crossfade.
    """
    fc = feature_config
    declared = int(getattr(vocoder, "context_frames", 0) or 0)
    if declared:
        # The crossfade blends in the previous window's samples of the frames just past its
        # last emitted one; those need the full receptive field to their right as well.
        declared += math.ceil(crossfade_samples(fc) / fc.hop_length)
    return max(8, 2 * math.ceil(fc.win / fc.hop_length), declared)


def vocode_long(
    vocode: Callable[[torch.Tensor], torch.Tensor],
    mel: torch.Tensor,
    hop: int,
    context: int,
    crossfade: int,
    max_frames: int,
) -> torch.Tensor:
    """Log-mel ``(B, M, T)`` -> ``(B, S)``: one ``vocode`` call up to ``max_frames`` frames, else
    :class:`OverlapVocoder` windows of ``max(256, max_frames // 4)`` new frames each.
    """
    if mel.shape[-1] <= max_frames:
        return vocode(mel)
    # A floor on the window keeps the context (re-vocoded by every window) a small share of the work.
    window = max(256, max_frames // 4)
    ov = OverlapVocoder(vocode, hop, context, crossfade)
    parts = [ov.push(mel[..., i : i + window]) for i in range(0, mel.shape[-1], window)]
    parts.append(ov.push(mel[..., :0], final=True))
    return torch.cat(parts, dim=-1)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` cut or zero-padded to exactly ``n`` samples."""
    if audio.shape[-1] >= n:
        return np.ascontiguousarray(audio[:n])
    return np.pad(audio, (0, n - audio.shape[-1]))


def dbfs(peak: float) -> float:
    """A linear peak in dBFS (``-inf`` for silence)."""
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


# A clip that stops at full level ends in a click; a short raised-cosine fade is inaudible as a fade.
FADE_OUT_MS = 20.0


def fade_out(audio: np.ndarray, samples: int) -> np.ndarray:
    """``audio`` with its last ``samples`` samples faded to zero by a raised cosine (a copy)."""
    n = min(int(samples), audio.shape[-1])
    if n <= 0:
        return audio
    out = np.array(audio, dtype=np.float32, copy=True)
    ramp = 0.5 + 0.5 * np.cos(np.pi * (np.arange(1, n + 1) / n))  # just below 1 ... exactly 0
    out[..., -n:] *= ramp.astype(np.float32)
    return out


def trim_silence(audio: np.ndarray, hop: int, trim_db: float) -> np.ndarray:
    """Cut leading and trailing hops whose RMS is ``trim_db`` dB or more below the loudest hop."""
    n = audio.shape[-1] // hop
    if n < 2:
        return audio
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    top = rms.max()
    if top <= 0:
        return audio
    loud = np.nonzero(rms >= top * 10 ** (-abs(trim_db) / 20))[0]
    return np.ascontiguousarray(audio[loud[0] * hop : (loud[-1] + 1) * hop])
