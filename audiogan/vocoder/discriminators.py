"""Waveform discriminators for neural-vocoder training: multi-period (HiFi-GAN) and multi-resolution
STFT (Vocos/UnivNet).

These are internal to vocoder training, not registered ``discriminator`` plugins: the registered
Discriminator contract scores *normalised mel frames* ``(B, T, M)`` with labels for the GAN engine,
whereas these score *waveforms* ``(B, S)``. Registering them there would offer them to
``audiogan train --discriminator`` where they cannot work. A third-party vocoder can still reuse
them: ``build_discriminators(["mpd", "mrd"], ...)``.

Every discriminator maps ``(B, S)`` to ``(logits, features)``: a list of logit tensors (one per
sub-discriminator, batch first) and a list of feature lists (each sub-discriminator's intermediate
activations) for feature matching.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from audiogan.errors import ConfigError

LRELU_SLOPE = 0.1  # HiFi-GAN's and Vocos' slope

Scores = tuple[list[torch.Tensor], list[list[torch.Tensor]]]


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period sub-discriminator: waveform folded into ``(S / p, p)`` columns, 2-D convs along time.

    :param period: the fold p; periodic structure at that lag becomes a column pattern.
    :param channels: widths of the strided conv stack (HiFi-GAN uses 32, 128, 512, 1024).
    """

    def __init__(self, period: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.period = period
        layers, c_in = [], 1
        for i, c_out in enumerate(channels):
            stride = (3, 1) if i < len(channels) - 1 else (1, 1)
            layers.append(weight_norm(nn.Conv2d(c_in, c_out, (5, 1), stride, padding=(2, 0))))
            c_in = c_out
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(c_in, 1, (3, 1), padding=(1, 0)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, S) -> (logits (B, N), features)``."""
        b, s = wave.shape
        pad = (-s) % self.period
        if pad:
            wave = F.pad(wave, (0, pad), mode="reflect" if pad < s else "constant")
        x = wave.view(b, 1, -1, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1), features


class MultiPeriodDiscriminator(nn.Module):
    """HiFi-GAN's MPD: one :class:`PeriodDiscriminator` per prime period (2, 3, 5, 7, 11 by default)."""

    def __init__(
        self, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = (8, 32, 64, 64)
    ) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)

    def forward(self, wave: torch.Tensor) -> Scores:
        """``(B, S) -> (logits per period, features per period)``."""
        logits, features = [], []
        for disc in self.discriminators:
            out, feats = disc(wave)
            logits.append(out)
            features.append(feats)
        return logits, features


class ResolutionDiscriminator(nn.Module):
    """One STFT resolution: compressed magnitude spectrogram ``(B, 1, T, F)`` through strided 2-D convs
    (Vocos' DiscriminatorR).

    :param n_fft: FFT size; hop is n_fft // 4 and the window a Hann of n_fft.
    :param channels: conv width.
    """

    def __init__(self, n_fft: int, channels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        specs = [((7, 5), (2, 2)), ((5, 3), (2, 1)), ((5, 3), (2, 2)), ((3, 3), (2, 1)), ((3, 3), (2, 2))]
        layers, c_in = [], 1
        for kernel, stride in specs:
            padding = (kernel[0] // 2, kernel[1] // 2)
            layers.append(weight_norm(nn.Conv2d(c_in, channels, kernel, stride, padding)))
            c_in = channels
        self.convs = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, S) -> (logits (B, N), features)``."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = torch.stft(
                wave.float(),
                self.n_fft,
                self.hop,
                self.n_fft,
                self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            ).abs()
        # Power-law compression (|X|^0.3): quiet recordings still give the convs a usable dynamic range.
        x = spec.clamp_min(1e-7).pow(0.3).transpose(1, 2).unsqueeze(1)  # (B, 1, T, F)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1), features


class MultiResolutionDiscriminator(nn.Module):
    """Vocos/UnivNet MRD: one :class:`ResolutionDiscriminator` per FFT size (512, 1024, 2048 by default)."""

    def __init__(self, fft_sizes: Sequence[int] = (512, 1024, 2048), channels: int = 16) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(ResolutionDiscriminator(n, channels) for n in fft_sizes)

    def forward(self, wave: torch.Tensor) -> Scores:
        """``(B, S) -> (logits per resolution, features per resolution)``."""
        logits, features = [], []
        for disc in self.discriminators:
            out, feats = disc(wave)
            logits.append(out)
            features.append(feats)
        return logits, features


class CombinedDiscriminator(nn.Module):
    """Several multi-discriminators scored together (their sub-discriminator lists concatenated)."""

    def __init__(self, parts: dict[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    def forward(self, wave: torch.Tensor) -> Scores:
        """``(B, S) -> (all logits, all feature lists)``."""
        logits: list[torch.Tensor] = []
        features: list[list[torch.Tensor]] = []
        for part in self.parts.values():
            out, feats = part(wave)
            logits += out
            features += feats
        return logits, features


DISCRIMINATORS = ("mpd", "mrd")


def build_discriminators(
    names: Sequence[str],
    mpd_periods: Sequence[int] = (2, 3, 5, 7, 11),
    mpd_channels: Sequence[int] = (8, 32, 64, 64),
    mrd_fft_sizes: Sequence[int] = (512, 1024, 2048),
    mrd_channels: int = 16,
) -> CombinedDiscriminator:
    """Build the waveform discriminators named in ``names`` (``"mpd"``, ``"mrd"``) as one module.

    :raises ConfigError: an unknown or empty name list (naming the option ``train.discriminators``).
    """
    if not names:
        raise ConfigError(f"train.discriminators is empty; choose from {', '.join(DISCRIMINATORS)}")
    parts: dict[str, nn.Module] = {}
    for name in names:
        if name == "mpd":
            parts[name] = MultiPeriodDiscriminator(mpd_periods, mpd_channels)
        elif name == "mrd":
            parts[name] = MultiResolutionDiscriminator(mrd_fft_sizes, mrd_channels)
        else:
            raise ConfigError(
                f"train.discriminators: unknown {name!r}; choose from {', '.join(DISCRIMINATORS)}"
            )
    return CombinedDiscriminator(parts)


__all__ = [
    "CombinedDiscriminator",
    "DISCRIMINATORS",
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "PeriodDiscriminator",
    "ResolutionDiscriminator",
    "adversarial_losses",
    "build_discriminators",
    "generator_adversarial_loss",
    "paired_feature_matching",
]


# --------------------------------------------------------------------------- losses over sub-discriminators


def adversarial_losses(
    loss: str, real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]
) -> torch.Tensor:
    """Discriminator loss averaged over sub-discriminators (each logit map scored element-wise).

    :param loss: a name of :mod:`audiogan.training.objectives` (``hinge``, ``least-squares``, ...).
    """
    from audiogan.training.objectives import discriminator_loss

    total = sum(discriminator_loss(loss, r.float(), f.float()) for r, f in zip(real_logits, fake_logits))
    return total / max(len(real_logits), 1)


def generator_adversarial_loss(loss: str, fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """The vocoder's adversarial loss averaged over sub-discriminators."""
    from audiogan.training.objectives import generator_loss

    return sum(generator_loss(loss, f.float()) for f in fake_logits) / max(len(fake_logits), 1)


def paired_feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """HiFi-GAN's feature matching: L1 between D's activations on each real clip and on *its* resynthesis.

    Unlike the GAN engine's (which matches batch statistics, there being no paired target), the
    vocoder's output has a paired ground truth, so activations are compared element by element.
    Summed over layers, averaged over sub-discriminators; real activations are constants.
    """
    total = fake[0][0].new_zeros((), dtype=torch.float32)
    for real_maps, fake_maps in zip(real, fake):
        for r, f in zip(real_maps, fake_maps):
            total = total + (r.detach().float() - f.float()).abs().mean()
    return total / max(len(fake), 1)
