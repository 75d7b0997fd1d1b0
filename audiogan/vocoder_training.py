"""Adversarial training of neural vocoders on a data folder (``audiogan train-vocoder``).

The recipe is HiFi-GAN's and Vocos': a multi-scale log-mel L1 (weight 45), waveform
discriminators (multi-period and multi-resolution STFT, see
:mod:`audiogan_plugins.vocoder_discriminators`) with a hinge or least-squares loss, and
discriminator feature matching (weight 2). An optional warm-up trains on the mel loss alone first,
which on a CPU budget gets the phase roughly right before the discriminators join.

Data: the same folder dataset, feature cache and FeatureConfig as the GAN run. Each usable clip's
audio is decoded once (resampled to the run's rate) beside its cached log-mel; a batch is ``B``
aligned crops ``(mel (B, M, T), audio (B, T * hop))``, the vocoder's input being the mel of the
*whole* clip (as at generation time), not of the crop.

Run folder: the vocoder's training state lives in ``RUN/vocoder/`` (config.toml, checkpoints/,
metrics.jsonl, tensorboard/, samples/), managed by the engine's :class:`~audiogan.runfolder.RunFolder`;
the inference file is ``RUN/vocoder.pt`` (see :func:`save_vocoder`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from .config import FeatureConfig
from .errors import ConfigError, DataError
from .features import MelFrontEnd
from .objectives import LOSSES

__all__ = [
    "VocoderTrainConfig",
    "AudioClips",
    "SegmentSampler",
    "MultiScaleMelLoss",
    "log_mel_l1",
    "mrstft_distance",
]


@dataclasses.dataclass
class VocoderTrainConfig:
    """Settings of vocoder training (``--set train.key=value`` on ``train-vocoder``)."""

    steps: int = 20000  # optimiser steps (one D + one G update each once the discriminators are on)
    batch_size: int = 8  # crops per batch
    segment_frames: int = 32  # frames per crop (32 x 256 = 0.5 s at 16 kHz: FSDD clips are ~0.4 s)
    lr: float = 5e-4  # vocoder learning rate (Vocos); cosine-decayed to lr_final over the run
    lr_d: float = 2e-4  # discriminator learning rate
    lr_final: float = 1e-5  # end of the cosine schedule
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.8, 0.9])  # AdamW betas (Vocos, HiFi-GAN)
    loss: str = "hinge"  # adversarial loss: hinge (Vocos) or least-squares (HiFi-GAN)
    discriminators: list[str] = dataclasses.field(default_factory=lambda: ["mpd", "mrd"])  # mpd, mrd or both
    mel_weight: float = 45.0  # multi-scale log-mel L1 weight (HiFi-GAN / Vocos)
    fm_weight: float = 2.0  # feature-matching weight
    adv_weight: float = 1.0  # adversarial weight
    mel_scales: list[float] = dataclasses.field(default_factory=lambda: [0.5, 1.0, 2.0])  # FFT sizes as multiples of n_fft
    warmup_steps: int = 0  # steps of mel loss only before the discriminators join
    grad_clip: float = 100.0  # max global grad norm per model (GAN vocoders spike early); 0 = off
    mpd_channels: list[int] = dataclasses.field(default_factory=lambda: [16, 64, 128, 128])  # MPD widths (HiFi-GAN: 32..1024)
    mrd_channels: int = 32  # MRD width (Vocos: 64)
    seed: int = 0  # seeds torch and the crop sampler
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # bf16 autocast on CUDA (the iSTFT and the losses stay float32)
    log_every: int = 50  # steps between metrics lines / TensorBoard / progress-bar updates
    checkpoint_every: int = 500  # steps between checkpoints (plus one at the end and on Ctrl-C)
    keep_checkpoints: int = 3  # step-XXXXXX.pt files kept
    sample_every: int = 1000  # steps between resynthesised sample clips; 0 = only at the end
    samples: int = 3  # clips resynthesised for listening at each sample step
    max_audio_seconds: float = 3600.0  # audio held in memory for crops; a larger folder is an error

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "segment_frames", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in ("lr", "lr_d", "lr_final"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in ("mel_weight", "fm_weight", "adv_weight", "warmup_steps", "grad_clip", "sample_every", "samples"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be >= 0")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas={self.betas!r} must be two numbers in [0, 1)")
        if self.loss not in ("hinge", "least-squares"):
            raise ConfigError(f"train.loss={self.loss!r}: vocoders support hinge or least-squares (of {', '.join(LOSSES)})")
        if not self.mel_scales or min(self.mel_scales) <= 0:
            raise ConfigError(f"train.mel_scales={self.mel_scales!r} must be positive multiples of n_fft")


# --------------------------------------------------------------------------- data


class AudioClips:
    """The usable clips of a :class:`~audiogan.data.FeatureSet` as aligned (log-mel, audio) pairs.

    ``mels[i]`` is ``(T_i, M)`` raw log-mel (from the feature cache) and ``audio[i]`` is
    ``(T_i * hop,)`` float32: frame ``t`` is centred on sample ``t * hop``, so frames ``[a, a+T)``
    are voiced by samples ``[a * hop, (a + T) * hop)``. Clips shorter than a crop are padded with
    silence (audio zeros, mel at the floor) because a vocoder must also learn to stay quiet.
    """

    def __init__(self, dataset: Any, min_frames: int = 1, max_seconds: float = math.inf, progress: bool = False) -> None:
        from .audio import load_audio
        from .features import samples_to_frames

        fc: FeatureConfig = dataset.feature_config
        total = float(getattr(dataset, "total_seconds", 0.0))
        if total > max_seconds:
            raise DataError(
                f"{dataset.root}: {total:.0f} s of audio is more than train.max_audio_seconds={max_seconds:g} held in memory"
            )
        hop, floor = fc.hop_length, math.log(fc.log_floor)
        front: MelFrontEnd | None = None
        self.feature_config = fc
        self.files: list[str] = list(dataset.files)
        self.mels: list[np.ndarray] = []
        self.audio: list[np.ndarray] = []
        indices = range(len(dataset))
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc="loading audio", unit="file", leave=False)
        for i in indices:
            wave = load_audio(dataset.root / dataset.files[i], fc.sample_rate)
            mel = np.asarray(dataset.log_mel(i), dtype=np.float32)
            if mel.shape[0] != samples_to_frames(wave.shape[0], fc):
                # A cache built differently (e.g. trimmed) would misalign crops: recompute from the audio.
                front = front or MelFrontEnd(fc)
                with torch.no_grad():
                    mel = front.log_mel(torch.from_numpy(wave))[0].numpy()
            frames = max(mel.shape[0], min_frames)
            padded = np.zeros(frames * hop, dtype=np.float32)
            n = min(wave.shape[0], padded.shape[0])
            padded[:n] = wave[:n]
            if frames > mel.shape[0]:
                mel = np.concatenate([mel, np.full((frames - mel.shape[0], mel.shape[1]), floor, np.float32)])
            self.mels.append(mel)
            self.audio.append(padded)

    def __len__(self) -> int:
        return len(self.mels)


class SegmentSampler:
    """Seeded random crops ``(mel (B, M, T), audio (B, T * hop))``; resumable from a batch count.

    Batch ``k`` comes from a generator seeded with ``(seed, k)`` (as the GAN's sampler), so a resumed
    run draws exactly the batches it would have drawn. Clips are picked in proportion to their
    length, so every second of audio is equally likely.
    """

    def __init__(self, clips: AudioClips, batch_size: int, segment_frames: int, seed: int = 0) -> None:
        self.clips, self.batch_size, self.segment_frames = clips, int(batch_size), int(segment_frames)
        self.seed = int(seed)
        self.batches_drawn = 0
        lengths = np.array([m.shape[0] for m in clips.mels], dtype=np.float64)
        self._weights = lengths / lengths.sum()

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(mel (B, M, T), audio (B, S))`` float32 CPU tensors."""
        rng = np.random.default_rng([self.seed, self.batches_drawn])
        self.batches_drawn += 1
        T, hop = self.segment_frames, self.clips.feature_config.hop_length
        picks = rng.choice(len(self.clips), size=self.batch_size, p=self._weights)
        mels, waves = [], []
        for i in picks.tolist():
            mel, wave = self.clips.mels[i], self.clips.audio[i]
            start = int(rng.integers(mel.shape[0] - T + 1))
            mels.append(mel[start : start + T].T)
            waves.append(wave[start * hop : (start + T) * hop])
        return torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(waves))

    def state_dict(self) -> dict[str, int]:
        """Plain ints: enough to continue the same stream."""
        return {"seed": self.seed, "batches_drawn": self.batches_drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        self.seed, self.batches_drawn = int(state["seed"]), int(state["batches_drawn"])


# --------------------------------------------------------------------------- losses and metrics


def _mel_transform(fc: FeatureConfig, n_fft: int, n_mels: int) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=fc.sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=max(1, n_fft // 4),
        f_min=fc.f_min, f_max=fc.f_max, n_mels=n_mels, power=1.0, center=True, pad_mode="constant",
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


def log_mel_l1(reference: torch.Tensor, estimate: torch.Tensor, feature_config: FeatureConfig) -> float:
    """Mean absolute difference of the run's log-mel features (natural log) between two ``(S,)`` waveforms.

    Both are cut to the shorter length first; the feature scale is the FeatureConfig's own.
    """
    n = min(reference.shape[-1], estimate.shape[-1])
    front = MelFrontEnd(feature_config)
    with torch.no_grad():
        return float((front.log_mel(reference[..., :n]) - front.log_mel(estimate[..., :n])).abs().mean())


def mrstft_distance(
    reference: torch.Tensor, estimate: torch.Tensor, fft_sizes: Sequence[int] = (512, 1024, 2048)
) -> float:
    """Multi-resolution STFT distance (Parallel WaveGAN): mean over FFT sizes of spectral convergence + log-magnitude L1.

    Hann windows, hop = n_fft / 4; both ``(S,)`` waveforms are cut to the shorter length.
    """
    n = min(reference.shape[-1], estimate.shape[-1])
    x, y = reference[..., :n].float().reshape(1, -1), estimate[..., :n].float().reshape(1, -1)
    total = 0.0
    with torch.no_grad():
        for n_fft in fft_sizes:
            window = torch.hann_window(n_fft, device=x.device)
            X = torch.stft(x, n_fft, n_fft // 4, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
            Y = torch.stft(y, n_fft, n_fft // 4, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
            convergence = torch.linalg.norm(X - Y) / torch.linalg.norm(X)
            total += float(convergence) + float((X.log() - Y.log()).abs().mean())
    return total / len(fft_sizes)


# --------------------------------------------------------------------------- the inference file


def vocoder_file(registry: Any, vocoder: nn.Module, step: int = 0) -> dict[str, Any]:
    """The ``vocoder.pt`` payload of the run-folder contract (tensors and plain containers only)."""
    from . import __version__
    from .checkpoint import FORMAT_VERSION, component_record

    record = component_record(registry, "vocoder", vocoder.name, vocoder)
    # The file is the checkpoint: rebuilding from its config must not try to load another file.
    record["config"] = {**record["config"], "checkpoint": None} if "checkpoint" in record["config"] else record["config"]
    return {
        "format": "audiogan-vocoder",
        "format_version": FORMAT_VERSION,
        "audiogan_version": __version__,
        "vocoder": record,
        "feature_config": vocoder.feature_config.to_dict(),
        "step": int(step),
    }


def save_vocoder(path: Any, vocoder: nn.Module, registry: Any = None, step: int = 0) -> Any:
    """Write ``vocoder.pt`` atomically (loads with ``--vocoder NAME --set vocoder.checkpoint=PATH``)."""
    from .checkpoint import save_checkpoint

    if registry is None:
        from .plugins import get_registry

        registry = get_registry()
    return save_checkpoint(vocoder_file(registry, vocoder, step), path)
