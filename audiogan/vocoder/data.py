"""Vocoder training data: aligned (log-mel, audio) clips and seeded, resumable random crops.

:class:`AudioClips` decodes each usable clip of a feature set once beside its cached log-mel;
:class:`SegmentSampler` draws batches of aligned crops ``(mel (B, M, T), audio (B, T * hop))`` from
them. Used by :mod:`audiogan.vocoder.training` (which re-exports both names).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiogan.config import FeatureConfig
from audiogan.errors import DataError
from audiogan.features import MelFrontEnd

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet

__all__ = ["AudioClips", "SegmentSampler"]


class AudioClips:
    """The usable clips of a :class:`~audiogan.data.dataset.FeatureSet` as aligned (log-mel, audio) pairs.

    ``mels[i]`` is ``(T_i, M)`` raw log-mel (from the feature cache) and ``audio[i]`` is
    ``(T_i * hop,)`` float32: frame ``t`` is centred on sample ``t * hop``, so frames ``[a, a+T)``
    are voiced by samples ``[a * hop, (a + T) * hop)``. Clips shorter than a crop are padded with
    silence (audio zeros, mel at the floor) because a vocoder must also learn to stay quiet.
    """

    def __init__(
        self, dataset: FeatureSet, min_frames: int = 1, max_seconds: float = math.inf, progress: bool = False
    ) -> None:
        from audiogan.data.audio import load_audio
        from audiogan.features import samples_to_frames

        fc: FeatureConfig = dataset.feature_config
        total = float(getattr(dataset, "total_seconds", 0.0))
        if total > max_seconds:
            raise DataError(
                f"{dataset.root}: {total:.0f} s of audio is more than "
                f"train.max_audio_seconds={max_seconds:g} held in memory"
            )
        hop, floor = fc.hop_length, math.log(fc.log_floor)
        front: MelFrontEnd | None = None
        self.feature_config = fc
        self.files: list[str] = list(dataset.files)
        self.mels: list[np.ndarray] = []
        self.audio: list[np.ndarray] = []
        self.real_frames: list[int] = []  # frames before any padding
        indices = range(len(dataset))
        if progress:
            from tqdm import tqdm

            indices = tqdm(indices, desc="loading audio", unit="file", leave=False)
        starts = getattr(dataset, "starts", np.zeros(len(dataset), dtype=np.int64))
        loaded: tuple[str, np.ndarray] | None = None  # events of one take share its audio
        for i in indices:
            if loaded is None or loaded[0] != dataset.files[i]:
                loaded = (dataset.files[i], load_audio(dataset.root / dataset.files[i], fc.sample_rate))
            wave = loaded[1]
            mel = np.asarray(dataset.log_mel(i), dtype=np.float32)
            if getattr(dataset, "cut_into_events", False):
                # An event cut from a longer take: its frames [a, a+T) are voiced by these samples.
                wave = wave[int(starts[i]) * hop : (int(starts[i]) + mel.shape[0]) * hop]
            elif mel.shape[0] != samples_to_frames(wave.shape[0], fc):
                # A cache built differently (e.g. trimmed) would misalign crops: recompute from the audio.
                front = front or MelFrontEnd(fc)
                with torch.no_grad():
                    mel = front.log_mel(torch.from_numpy(wave))[0].numpy()
            self.real_frames.append(mel.shape[0])
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

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next ``(mel (B, M, T), audio (B, S), mask (B, T))`` CPU tensors (mask: True on real frames)."""
        rng = np.random.default_rng([self.seed, self.batches_drawn])
        self.batches_drawn += 1
        T, hop = self.segment_frames, self.clips.feature_config.hop_length
        picks = rng.choice(len(self.clips), size=self.batch_size, p=self._weights)
        mels, waves, masks = [], [], []
        for i in picks.tolist():
            mel, wave = self.clips.mels[i], self.clips.audio[i]
            start = int(rng.integers(mel.shape[0] - T + 1))
            mels.append(mel[start : start + T].T)
            waves.append(wave[start * hop : (start + T) * hop])
            masks.append(np.arange(start, start + T) < self.clips.real_frames[i])
        return (
            torch.from_numpy(np.stack(mels)),
            torch.from_numpy(np.stack(waves)),
            torch.from_numpy(np.stack(masks)),
        )

    def state_dict(self) -> dict[str, int]:
        """Plain ints: enough to continue the same stream."""
        return {"seed": self.seed, "batches_drawn": self.batches_drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        self.seed, self.batches_drawn = int(state["seed"]), int(state["batches_drawn"])
