"""Settings of ``audiogan train-vocoder`` (``--set train.key=value``): :class:`VocoderTrainConfig`.

Kept apart from :mod:`audiogan.vocoder.training` (which re-exports it) so the loop module holds
the loop. The shared fields are :class:`~audiogan.training.config.LoopConfig`'s.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from audiogan.errors import ConfigError
from audiogan.training.config import LoopConfig
from audiogan.training.objectives import LOSSES

__all__ = ["VocoderTrainConfig"]


@dataclasses.dataclass
class VocoderTrainConfig(LoopConfig):
    """Settings of vocoder training (``--set train.key=value`` on ``train-vocoder``).

    Field names shared with the GAN's :class:`~audiogan.training.config.TrainConfig` (``lr_g``,
    ``optimizer``, ``divergence_patience``, ...) mean the same thing: the engine's optimiser,
    checkpoint, logging and divergence-guard code reads them from either. The shared fields are
    :class:`~audiogan.training.config.LoopConfig`'s; those redeclared here have the vocoder's defaults.
    """

    steps: int = 20000  # optimiser steps (one D + one vocoder update each once the discriminators are on)
    batch_size: int = 8  # crops per batch
    segment_frames: int = 32  # frames per crop (32 x 256 = 0.5 s at 16 kHz: FSDD clips are ~0.4 s)
    optimizer: Literal["adam", "adamw"] = "adamw"  # AdamW as Vocos and HiFi-GAN
    lr_g: float = 5e-4  # vocoder learning rate (Vocos); cosine-decayed to lr_final over the run
    lr_d: float = 2e-4  # discriminator learning rate, same schedule
    lr_final: float = 1e-5  # end of the cosine schedule (both models)
    betas: list[float] = dataclasses.field(
        default_factory=lambda: [0.8, 0.9]
    )  # AdamW betas (Vocos, HiFi-GAN)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (PyTorch default)
    loss: str = "hinge"  # adversarial loss: hinge (Vocos) or least-squares (HiFi-GAN)
    discriminators: list[str] = dataclasses.field(default_factory=lambda: ["mpd", "mrd"])  # mpd, mrd or both
    mel_weight: float = 45.0  # multi-scale log-mel L1 weight (HiFi-GAN / Vocos)
    fm_weight: float = 2.0  # feature-matching weight (HiFi-GAN)
    # multi-resolution STFT loss (Parallel WaveGAN: spectral convergence + log |STFT| L1): on a CPU
    # budget it teaches coherent phase far faster than mel L1 alone; 0 = off
    stft_weight: float = 20.0
    # direct log-magnitude L1 on the STFT a vocoder predicts (before its phase projections), for
    # vocoders that expose it (istft); 0 = off
    magnitude_weight: float = 45.0
    adv_weight: float = 1.0  # adversarial weight
    mel_scales: list[float] = dataclasses.field(
        default_factory=lambda: [0.5, 1.0, 2.0]
    )  # FFT sizes as multiples of n_fft
    # steps of reconstruction losses only (mel, STFT, magnitude) before the discriminators join
    # (Vocos' pretrain_mel_steps)
    warmup_steps: int = 0
    lr_schedule: Literal["cosine", "constant"] = "cosine"  # cosine: decay to lr_final over `steps` (Vocos)
    grad_clip: float = 1000.0  # max global grad norm per model: a safety net for early spikes only; 0 = off
    ema_decay: float = 0.0  # EMA of the vocoder's weights, which vocoder.pt holds; 0 = the raw weights
    mpd_periods: list[int] = dataclasses.field(
        default_factory=lambda: [2, 3, 5, 7, 11]
    )  # MPD folds (HiFi-GAN)
    # Discriminator widths sized for a 2-core CPU (one step ~1 s for batch 8 x 0.5 s); on a GPU use
    # HiFi-GAN's MPD [32, 128, 512, 1024, 1024] and Vocos' MRD 64.
    mpd_channels: list[int] = dataclasses.field(default_factory=lambda: [8, 32, 64, 64])  # MPD conv widths
    mrd_channels: int = 16  # MRD conv width
    mrd_scales: list[float] = dataclasses.field(
        default_factory=lambda: [0.5, 1.0, 2.0]
    )  # MRD FFT sizes as multiples of n_fft
    amp: bool = True  # bf16 autocast on CUDA when supported (the iSTFT and the losses stay float32)
    checkpoint_every: int = (
        500  # steps between checkpoints and vocoder.pt updates (plus at the end and on Ctrl-C)
    )
    sample_every: int = (
        1000  # steps between resynthesised sample clips + validation log-mel L1; 0 = only at the end
    )
    samples: int = 3  # clips resynthesised for listening and validation
    max_audio_seconds: float = 7200.0  # audio held in memory for crops (~0.5 GB at 16 kHz); more is an error
    cache_dir: str | None = None  # feature cache location; None means DATA_DIR/.audiogan-cache
    workers: int | None = None  # feature extraction processes; None = automatic

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("batch_size", "segment_frames", "samples"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in ("lr_final", "max_audio_seconds"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in (
            "mel_weight",
            "stft_weight",
            "magnitude_weight",
            "fm_weight",
            "adv_weight",
            "warmup_steps",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be >= 0")
        if self.loss not in ("hinge", "least-squares"):
            raise ConfigError(
                f"train.loss={self.loss!r}: vocoders support hinge or least-squares (of {', '.join(LOSSES)})"
            )
        for key in ("mel_scales", "mrd_scales"):
            if not getattr(self, key) or min(getattr(self, key)) <= 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be positive multiples of n_fft")
        from audiogan.vocoder.discriminators import DISCRIMINATORS

        bad = [n for n in self.discriminators if n not in DISCRIMINATORS]
        if bad or not self.discriminators:
            raise ConfigError(
                f"train.discriminators={self.discriminators!r}: "
                f"choose one or more of {', '.join(DISCRIMINATORS)}"
            )
