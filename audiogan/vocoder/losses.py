"""Vocoder training losses and metrics: multi-scale log-mel L1, multi-resolution STFT loss, log-mel L1.

Used by :mod:`audiogan.vocoder.training` (which re-exports these names) for the vocoder's
reconstruction objective and its validation metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from audiogan.config import FeatureConfig
from audiogan.features import MelFrontEnd

__all__ = ["MultiScaleMelLoss", "MultiResolutionSTFTLoss", "log_mel_l1", "magnitude_l1"]


def _mel_transform(fc: FeatureConfig, n_fft: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=fc.sample_rate,
        n_fft=n_fft,
        win_length=n_fft,
        hop_length=max(1, n_fft // 4),
        f_min=fc.f_min,
        f_max=fc.f_max,
        n_mels=n_mels,
        power=1.0,
        center=True,
        pad_mode="constant",
    )


class MultiScaleMelLoss(nn.Module):
    """Mean L1 between log-mels of two waveforms at several FFT sizes (DAC / multi-band MelGAN style).

    Scale ``s`` uses ``n_fft * s`` with hop ``n_fft * s / 4`` and ``n_mels * min(s, 1)`` bands (fewer
    bands at short FFTs so no mel filter falls between two FFT bins). Scale 1 is the run's own
    front end, so the loss includes exactly the features the GAN models.
    """

    def __init__(self, feature_config: FeatureConfig, scales: Sequence[float] = (0.5, 1.0, 2.0)) -> None:
        super().__init__()
        fc = feature_config
        self.log_floor = fc.log_floor
        self.transforms = nn.ModuleList()
        for scale in scales:
            if scale == 1.0:
                self.transforms.append(MelFrontEnd(fc).mel)
                continue
            n_fft = max(64, int(round(fc.n_fft * scale)))
            if fc.scale == "linear":  # the same layout at this FFT size: its own bins, no filterbank
                layout = dataclasses.replace(
                    fc,
                    n_fft=n_fft,
                    win_length=None,
                    hop_length=max(1, n_fft // 4),
                    mel_mean=None,
                    mel_std=None,
                )
                self.transforms.append(MelFrontEnd(layout).mel)
                continue
            self.transforms.append(_mel_transform(fc, n_fft, max(8, int(round(fc.n_mels * min(scale, 1.0))))))

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, S), (B, S) -> ()`` float32."""
        with torch.autocast(device_type=estimate.device.type, enabled=False):
            estimate, target = estimate.float(), target.float()
            total = estimate.new_zeros(())
            for transform in self.transforms:
                a = transform(estimate).clamp_min(self.log_floor).log()
                b = transform(target).clamp_min(self.log_floor).log()
                total = total + F.l1_loss(a, b)
            return total / len(self.transforms)


class MultiResolutionSTFTLoss(nn.Module):
    """Parallel WaveGAN's auxiliary loss: spectral convergence + log-magnitude L1, averaged over FFT sizes.

    Long windows see whether partials stay coherent from frame to frame, which the mel loss
    (coarse in frequency) barely does; it speeds up learning of consistent phase.
    """

    def __init__(self, feature_config: FeatureConfig, scales: Sequence[float] = (0.5, 1.0, 2.0)) -> None:
        super().__init__()
        self.sizes = [max(64, int(round(feature_config.n_fft * s))) for s in scales]
        for n in self.sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, S), (B, S) -> ()`` float32."""
        with torch.autocast(device_type=estimate.device.type, enabled=False):
            total = estimate.new_zeros((), dtype=torch.float32)
            for n in self.sizes:
                window = getattr(self, f"window_{n}")

                def spec(x: torch.Tensor, n: int = n, window: torch.Tensor = window) -> torch.Tensor:
                    return (
                        torch.stft(
                            x.float(),
                            n,
                            n // 4,
                            n,
                            window,
                            center=True,
                            pad_mode="constant",
                            return_complex=True,
                        )
                        .abs()
                        .clamp_min(1e-5)
                    )

                x, y = spec(estimate), spec(target)
                convergence = torch.linalg.norm(y - x, dim=(1, 2)) / torch.linalg.norm(
                    y, dim=(1, 2)
                ).clamp_min(1e-5)
                total = total + convergence.mean() + F.l1_loss(x.log(), y.log())
            return total / len(self.sizes)


def magnitude_l1(
    magnitude: torch.Tensor,
    audio: torch.Tensor,
    vocoder: nn.Module,
    mask: torch.Tensor | None = None,
    floor: float = 1e-5,
) -> torch.Tensor:
    """Mean L1 between the log of a vocoder's predicted STFT magnitude ``(B, F, T)`` and that of the
    target audio ``(B, S)``.

    The target is analysed with the vocoder's own ``n_fft`` / ``hop_length`` / ``win_length`` (Hann,
    centred). Frames within half a window of a crop's edge are left out (their analysis window
    would reach past the crop, which the vocoder's input mel, taken from the whole clip, did not),
    and so are padded frames (``mask`` ``(B, T)`` False).
    """
    n_fft, hop, win = vocoder.n_fft, vocoder.hop_length, vocoder.win_length
    frames = magnitude.shape[-1]
    with torch.autocast(device_type=audio.device.type, enabled=False):
        window = torch.hann_window(win, device=audio.device)
        target = torch.stft(audio.float(), n_fft, hop, win, window, center=True, return_complex=True).abs()[
            ..., :frames
        ]
        diff = (
            (magnitude.float().clamp_min(floor).log() - target.clamp_min(floor).log()).abs().mean(dim=1)
        )  # (B, T)
        keep = torch.ones_like(diff, dtype=torch.bool)
        edge = -(-win // (2 * hop))
        if frames > 2 * edge:
            keep[:, :edge] = False
            keep[:, frames - edge :] = False
        if mask is not None:
            keep = keep & mask[:, :frames].to(keep.device)
        return (diff * keep).sum() / keep.sum().clamp_min(1)


def log_mel_l1(reference: torch.Tensor, estimate: torch.Tensor, feature_config: FeatureConfig) -> float:
    """Mean absolute difference of the run's log-mel features (natural log) between two ``(S,)`` waveforms.

    Both are cut to the shorter length first; the feature scale is the FeatureConfig's own.
    """
    n = min(reference.shape[-1], estimate.shape[-1])
    front = MelFrontEnd(feature_config)
    with torch.no_grad():
        return float((front.log_mel(reference[..., :n]) - front.log_mel(estimate[..., :n])).abs().mean())
