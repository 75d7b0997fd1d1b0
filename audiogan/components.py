"""Abstract bases for everything a plugin can provide: generators, discriminators, vocoders.

Shapes use B = batch, T = frames, M = n_mels, S = samples. Inside the engine every mel tensor is
``(B, T, M)``, batch-first, in the normalised feature scale (about [-1, 1], see
:class:`~audiogan.config.FeatureConfig`). Only vocoders see ``(B, M, T)`` natural-log magnitude mel.

Every concrete class sets ``name`` (unique within its kind), has a one-line docstring (shown by
``audiogan plugins``) and a nested ``Config`` dataclass whose fields all have defaults; it is
built as ``cls(config, feature_config, num_classes)``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

from audiogan.config import FeatureConfig

__all__ = ["Component", "Generator", "Discriminator", "Vocoder"]


class Component(nn.Module, abc.ABC):
    """Shared construction for all plugin components.

    :param config: an instance of the class's own ``Config`` (``None`` means all defaults).
    :param feature_config: the features the component reads or writes (n_mels, sample rate, hop).
    :param num_classes: number of class labels; 0 for unconditional data.
    """

    name: ClassVar[str]
    kind: ClassVar[str]

    @dataclasses.dataclass
    class Config:
        """Hyperparameters; subclasses replace this with their own dataclass."""

    def __init__(self, config: Any | None, feature_config: FeatureConfig, num_classes: int = 0) -> None:
        super().__init__()
        self.config = config if config is not None else type(self).Config()
        self.feature_config = feature_config
        self.num_classes = int(num_classes)


class Generator(Component):
    """Produces mel frames from noise, continuing across calls through a recurrent ``state``.

    ``latent_dim`` (int attribute) is the size of the per-sequence latent ``z``.
    """

    kind: ClassVar[str] = "generator"
    latent_dim: int

    @abc.abstractmethod
    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        n_frames: int,
        state: Any | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """Generate ``n_frames`` frames.

        :param z: ``(B, latent_dim)`` latent, one per sequence.
        :param labels: ``(B,)`` int64 class indices, or ``None`` when unconditional.
        :param n_frames: how many frames to produce in this call.
        :param state: what the previous call returned, to continue the same sequences seamlessly;
            ``None`` starts new sequences. Tensors or tuples of tensors only.
        :return: ``(frames, state)`` with frames ``(B, n_frames, M)`` in the normalised scale.
        """


class Discriminator(Component):
    """Scores mel sequences as real or generated."""

    kind: ClassVar[str] = "discriminator"

    @abc.abstractmethod
    def forward(
        self, frames: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Score a batch of sequences.

        :param frames: ``(B, T, M)`` normalised mel frames.
        :param labels: ``(B,)`` int64 class indices, or ``None``.
        :return: ``(logits, features)``: logits ``(B,)`` per sequence or ``(B, T')`` per frame
            (higher means more real), and a list of intermediate activations (each with batch
            first) for feature matching.
        """


class Vocoder(Component):
    """Turns log-mel frames back into a waveform.

    ``trainable`` vocoders also implement :meth:`fit`, which ``audiogan train-vocoder`` calls.
    """

    kind: ClassVar[str] = "vocoder"
    trainable: ClassVar[bool] = False

    @abc.abstractmethod
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Synthesise audio.

        :param mel: ``(B, M, T)`` natural-log magnitude mel in the FeatureConfig's scale
            (``log(max(mel, log_floor))``), not normalised.
        :return: ``(B, S)`` float waveform at ``feature_config.sample_rate``, S about T * hop_length.
        """

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Train the vocoder (trainable vocoders only); see the vocoder training command."""
        raise NotImplementedError(f"vocoder {self.name!r} is not trainable")
