"""audiogan-elman: an audiogan plugin with the Elman RNN generator and a minimal linear discriminator.

The generator is the one our first design sketch described::

    h_t = tanh(W_h [z_t; h_{t-1}] + b_h)        # Elman recurrence (torch.nn.RNN, tanh)
    x_t = tanh(W_o h_t + b_o)                   # one mel frame, in the normalised [-1, 1] scale

with ``z_t`` the per-sequence latent ``z`` (plus a label embedding for labelled data, plus optional
fresh noise per frame). The discriminator is ``D(x) = sigmoid(W_d x_t + b_d)`` averaged over frames:
it returns the per-frame logits ``W_d x_t + b_d`` and the objective applies the sigmoid and the mean.

Everything audiogan needs is the three things at the bottom: classes deriving from the public
bases, a ``name`` each, and ``@audiogan.hookimpl`` functions returning them. The entry point in
``pyproject.toml`` (group ``audiogan``) is how audiogan finds this module once installed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

import audiogan
from audiogan import FeatureConfig

__version__ = "0.1.0"


class ElmanGenerator(audiogan.Generator):
    """Elman RNN generator: h_t = tanh(W_h [z_t; h_(t-1)] + b_h), frame x_t = tanh(W_o h_t + b_o)."""

    name = "elman"

    @dataclasses.dataclass
    class Config:
        """Elman generator hyperparameters."""

        hidden_size: int = 128  # width of h_t
        latent_dim: int = 32  # size of the per-sequence latent z
        label_dim: int = 16  # label embedding appended to z_t (labelled data only)
        noise_dim: int = 0  # fresh noise per frame appended to z_t; 0 keeps z -> audio deterministic

        def __post_init__(self) -> None:
            for key in ("hidden_size", "latent_dim"):
                if getattr(self, key) <= 0:
                    raise audiogan.ConfigError(f"generator.{key}={getattr(self, key)!r} must be > 0")
            for key in ("label_dim", "noise_dim"):
                if getattr(self, key) < 0:
                    raise audiogan.ConfigError(f"generator.{key}={getattr(self, key)!r} must be >= 0")

    def __init__(self, config: Config | None, feature_config: FeatureConfig, num_classes: int = 0) -> None:
        super().__init__(config, feature_config, num_classes)
        c = self.config
        self.latent_dim = c.latent_dim
        self.embed = nn.Embedding(num_classes, c.label_dim) if num_classes and c.label_dim else None
        input_size = c.latent_dim + (c.label_dim if self.embed is not None else 0) + c.noise_dim
        # nn.RNN with tanh is exactly the Elman recurrence; its two biases add up to b_h.
        self.rnn = nn.RNN(input_size, c.hidden_size, nonlinearity="tanh", batch_first=True)
        self.out = nn.Linear(c.hidden_size, feature_config.n_mels)  # W_o, b_o

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None, n_frames: int, state: Any | None = None
    ) -> tuple[torch.Tensor, Any]:
        """``z (B, latent_dim)``, ``labels (B,)`` or None -> ``frames (B, n_frames, n_mels)``,
        ``h (1, B, H)``."""
        z_t = z
        if self.embed is not None:
            if labels is None:
                raise audiogan.ConfigError(
                    f"generator 'elman' was built for {self.num_classes} classes and needs labels"
                )
            z_t = torch.cat([z_t, self.embed(labels)], dim=-1)
        z_t = z_t.unsqueeze(1).expand(-1, n_frames, -1)
        if self.config.noise_dim:
            noise = torch.randn(z.shape[0], n_frames, self.config.noise_dim, device=z.device, dtype=z.dtype)
            z_t = torch.cat([z_t, noise], dim=-1)
        h, state = self.rnn(z_t, state)  # h_0 = 0 on a fresh start; the carried h_t otherwise
        return torch.tanh(self.out(h)), state


class ElmanDiscriminator(audiogan.Discriminator):
    """Minimal linear discriminator: D(x) = sigmoid(W_d x_t + b_d) averaged over frames."""

    name = "elman"

    @dataclasses.dataclass
    class Config:
        """No hyperparameters: one linear map per frame (plus a label projection for labelled data)."""

    def __init__(self, config: Config | None, feature_config: FeatureConfig, num_classes: int = 0) -> None:
        super().__init__(config, feature_config, num_classes)
        self.score = nn.Linear(feature_config.n_mels, 1)  # W_d, b_d
        # Labelled data: add <e_y, x_t> (a projection discriminator's label term), still linear in x.
        self.project = nn.Embedding(num_classes, feature_config.n_mels) if num_classes else None
        if self.project is not None:
            nn.init.zeros_(self.project.weight)

    def forward(
        self, frames: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``frames (B, T, n_mels)`` -> per-frame logits ``(B, T)`` and ``[logits (B, T, 1)]`` as features."""
        logits = self.score(frames)  # (B, T, 1)
        if self.project is not None and labels is not None:
            logits = logits + (frames * self.project(labels).unsqueeze(1)).sum(-1, keepdim=True)
        return logits.squeeze(-1), [logits]


@audiogan.hookimpl
def register_generators() -> list[type[audiogan.Generator]]:
    """The Elman generator."""
    return [ElmanGenerator]


@audiogan.hookimpl
def register_discriminators() -> list[type[audiogan.Discriminator]]:
    """The minimal linear discriminator."""
    return [ElmanDiscriminator]
