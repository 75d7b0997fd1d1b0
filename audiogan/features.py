"""The mel front end: waveform -> log-mel -> normalised features, and back to the vocoder's scale.

Shapes: B = batch, S = samples, T = frames, M = n_mels. Built from torchaudio transforms, so the
same module runs batched on CPU or GPU (move it with ``.to(device)``).

Scales:

* log-mel (the cache and the vocoder's scale): ``log(max(mel_magnitude, log_floor))``, natural
  log of a power-1 (magnitude) HTK mel spectrogram without filter normalisation (torchaudio's
  defaults), ``center=True`` with zero padding so any clip of S >= 1 samples gives
  ``T = S // hop_length + 1`` frames.
* normalised (the engine's scale): ``(log_mel - mel_mean) / (norm_scale * mel_std)`` per bin.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch
import torchaudio
from torch import nn

from audiogan.config import FeatureConfig
from audiogan.data import audio
from audiogan.errors import ConfigError

__all__ = ["MelFrontEnd", "extract", "extract_many", "frames_to_samples", "samples_to_frames"]


def samples_to_frames(n_samples: int, fc: FeatureConfig) -> int:
    """Number of frames the front end makes from ``n_samples`` samples (``S // hop + 1``)."""
    return int(n_samples) // fc.hop_length + 1


def frames_to_samples(n_frames: int, fc: FeatureConfig) -> int:
    """Number of samples that ``n_frames`` frames stand for (``T * hop``), as vocoders produce."""
    return int(n_frames) * fc.hop_length


class MelFrontEnd(nn.Module):
    """Waveform to normalised log-mel and back to the vocoder's log-mel scale.

    :param feature_config: the layout; its ``mel_mean``/``mel_std`` are needed only by
        :meth:`normalise`, :meth:`denormalise`, :meth:`features` and :meth:`to_vocoder`.
    """

    def __init__(self, feature_config: FeatureConfig) -> None:
        super().__init__()
        self.feature_config = feature_config
        fc = feature_config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=fc.sample_rate,
            n_fft=fc.n_fft,
            win_length=fc.win,
            hop_length=fc.hop_length,
            f_min=fc.f_min,
            f_max=fc.f_max,
            n_mels=fc.n_mels,
            power=1.0,  # magnitude, the scale Griffin-Lim style vocoders invert
            center=True,
            # zero padding (not reflect) so clips shorter than n_fft/2 still work
            pad_mode="constant",
        )
        self.log_floor = float(fc.log_floor)
        # Statistics as buffers so .to(device) moves them; not persistent because they already
        # travel in the FeatureConfig (a state_dict must not disagree with it).
        if fc.has_stats:
            mean = torch.tensor(fc.mel_mean, dtype=torch.float32)
            scale = fc.norm_scale * torch.tensor(fc.mel_std, dtype=torch.float32)
        else:
            mean = torch.zeros(0)
            scale = torch.zeros(0)
        self.register_buffer("mel_mean", mean, persistent=False)
        self.register_buffer("mel_scale", scale, persistent=False)
        # The mel filterbank is rebuilt from the config; keep the state_dict empty for the same reason.
        for name, _ in list(self.mel.named_buffers()):
            module_path, _, buffer_name = name.rpartition(".")
            owner = self.mel.get_submodule(module_path) if module_path else self.mel
            owner._non_persistent_buffers_set.add(buffer_name)

    @property
    def has_stats(self) -> bool:
        """Whether normalisation statistics are loaded."""
        return self.mel_mean.numel() > 0

    def _need_stats(self) -> None:
        if not self.has_stats:
            raise ConfigError(
                "feature.mel_mean/feature.mel_std are not set: compute them with audiogan.data.dataset.load_dataset "
                "(or 'audiogan prepare') or load a FeatureConfig from a checkpoint"
            )

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Natural-log magnitude mel: wave ``(S,)`` or ``(B, S)`` -> ``(B, T, M)`` with T = S // hop + 1."""
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise ValueError(f"log_mel expects (S,) or (B, S) audio, got shape {tuple(wave.shape)}")
        wave = wave.to(self.mel_mean.device, torch.float32)
        if wave.requires_grad and torch.is_grad_enabled():
            mel = self.mel(wave)  # (B, M, T); |z| keeps a finite gradient at z = 0
        else:
            mel = self.mel.mel_scale(self._magnitude(wave))
        return mel.clamp_min(self.log_floor).log().transpose(1, 2)

    def _magnitude(self, wave: torch.Tensor) -> torch.Tensor:
        # The same STFT as self.mel, but |z| as sqrt(re^2 + im^2): 2-3x faster than complex abs
        # on CPU, which matters when the cache decodes thousands of clips (no gradient needed).
        fc, spec = self.feature_config, self.mel.spectrogram
        z = torchaudio.functional.spectrogram(
            wave,
            pad=0,
            window=spec.window,
            n_fft=fc.n_fft,
            hop_length=fc.hop_length,
            win_length=fc.win,
            power=None,
            normalized=False,
            center=True,
            pad_mode="constant",
            onesided=True,
        )
        return (z.real.square() + z.imag.square()).sqrt()

    def normalise(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(..., M)`` -> normalised ``(..., M)`` (about [-1, 1])."""
        self._need_stats()
        return (log_mel - self.mel_mean) / self.mel_scale

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(..., M)`` -> log-mel ``(..., M)``; the inverse of :meth:`normalise`."""
        self._need_stats()
        return x * self.mel_scale + self.mel_mean

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveform ``(S,)`` or ``(B, S)`` -> normalised features ``(B, T, M)``."""
        return self.normalise(self.log_mel(wave))

    def to_vocoder(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, T, M)`` -> the vocoder's de-normalised log-mel ``(B, M, T)``."""
        if x.dim() != 3 or x.shape[-1] != self.feature_config.n_mels:
            raise ValueError(f"to_vocoder expects (B, T, {self.feature_config.n_mels}), got {tuple(x.shape)}")
        return self.denormalise(x).transpose(1, 2)

    def to_linear_mel(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, T, M)`` -> linear mel magnitude ``(B, M, T)`` (``exp`` of :meth:`to_vocoder`)."""
        return self.to_vocoder(x).exp()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`features`."""
        return self.features(wave)

    @property
    def floor_value(self) -> float:
        """The log-mel value of silence (``log(log_floor)``)."""
        return math.log(self.log_floor)


# ----------------------------------------------------------------------------- files -> features

_FRONT_ENDS: dict[str, MelFrontEnd] = {}  # one per layout, reused across calls
_BATCH = 32  # clips per mel call
_SLACK = 1.25  # a batch's longest clip is at most this much longer than its shortest


def _front_end(fc: FeatureConfig) -> MelFrontEnd:
    key = json.dumps(fc.to_dict(), sort_keys=True)
    if key not in _FRONT_ENDS:
        _FRONT_ENDS[key] = MelFrontEnd(fc)
    return _FRONT_ENDS[key]


def _decode(path: str | os.PathLike) -> tuple[np.ndarray | None, int, str | None]:
    try:
        samples, rate = audio.decode(path)
        return samples, rate, None
    except audio.AudioFileError as exc:
        return None, 0, exc.reason
    except Exception as exc:  # a bad file must never stop a scan; report what happened
        return None, 0, f"{audio.REASON_UNREADABLE} ({type(exc).__name__})"


def extract_many(paths: list[str], fc: FeatureConfig) -> list[tuple[np.ndarray | None, float, str | None]]:
    """Decode files to raw log-mel ``(T, M)`` float32: per file ``(frames, seconds, None)`` or ``(None, 0, reason)``.

    Clips of the same rate and similar length are resampled and analysed as one zero-padded
    batch. That is exact: the resampler and the front end both pad with zeros themselves, so
    padding a clip further leaves its own samples and ``S // hop + 1`` frames unchanged; and it
    removes most of the per-call overhead that dominates short clips.
    """
    decoded = [_decode(path) for path in paths]
    results: list[tuple[np.ndarray | None, float, str | None]] = [(None, 0.0, r) for _, _, r in decoded]
    valid = [i for i, item in enumerate(decoded) if item[0] is not None]
    order = sorted(valid, key=lambda i: (decoded[i][1], decoded[i][0].shape[0]))  # by rate, then length
    groups: list[list[int]] = []
    for i in order:
        samples, rate, _ = decoded[i]
        if groups:
            first = decoded[groups[-1][0]]
            if (
                len(groups[-1]) < _BATCH
                and rate == first[1]
                and samples.shape[0] <= _SLACK * first[0].shape[0]
            ):
                groups[-1].append(i)
                continue
        groups.append([i])
    front = _front_end(fc)
    for group in groups:
        rate = decoded[group[0]][1]
        batch = np.zeros((len(group), decoded[group[-1]][0].shape[0]), dtype=np.float32)
        for row, i in enumerate(group):
            batch[row, : decoded[i][0].shape[0]] = decoded[i][0]
        with torch.inference_mode():
            wave = torch.from_numpy(batch)
            lengths = [
                -(-decoded[i][0].shape[0] * fc.sample_rate // rate) for i in group
            ]  # ceil, as torchaudio
            if rate != fc.sample_rate:
                wave = audio.resampler(rate, fc.sample_rate)(wave)
                for row, n_out in enumerate(lengths):
                    wave[row, n_out:] = 0.0  # the filter rings past a clip's end; one-by-one would cut it
            mel = front.log_mel(wave).numpy()
        for row, (i, n_out) in enumerate(zip(group, lengths)):
            seconds = decoded[i][0].shape[0] / rate
            frames = np.ascontiguousarray(mel[row, : n_out // fc.hop_length + 1])
            if not np.isfinite(frames).all():  # last line of defence: never cache NaN features
                results[i] = (None, 0.0, audio.REASON_NON_FINITE)
                continue
            results[i] = (frames, seconds, None)
    return results


def extract(path: str | os.PathLike, fc: FeatureConfig) -> tuple[np.ndarray | None, float, str | None]:
    """Decode one file to raw log-mel ``(T, M)`` float32: ``(frames, seconds, None)`` or ``(None, 0, reason)``."""
    return extract_many([str(path)], fc)[0]
