"""Built-in recurrent generators and discriminators: ``lstm`` and ``gru`` (C-RNN-GAN style).

Generator: a per-sequence latent ``z`` sets the initial recurrent state and, with fresh per-frame
noise and an optional label embedding, feeds every step of a multi-layer LSTM/GRU; a linear head
maps each step to ``n_mels`` values bounded by ``out_scale * tanh``. The recurrent state is
returned, so a second call continues the same sequences seamlessly past the training crop length.

Discriminator: a bidirectional LSTM/GRU over the frames gives per-frame logits (averaged into a
sequence score by the objective), with a projection term for labels (Miyato & Koyama 2018) and
spectral normalisation on its linear layers (not on the recurrent weights, which would break the
fused cuDNN kernels). ``scales=2`` also scores 2x time-pooled frames with the same network.

Both are written exactly as a third-party plugin would be, through :data:`audiogan.hookimpl`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

import audiogan
from audiogan.components import Discriminator, Generator
from audiogan.config import FeatureConfig

_RNN = {"lstm": nn.LSTM, "gru": nn.GRU}


@dataclasses.dataclass
class RNNGeneratorConfig:
    """Hyperparameters of the recurrent generators (defaults: sensible on GPU, tolerable on CPU)."""

    hidden_size: int = 256  # recurrent width; 96-128 trains visibly within minutes on 2 CPU cores
    num_layers: int = 2  # stacked recurrent layers
    latent_dim: int = 64  # per-sequence latent z
    noise_dim: int = 16  # fresh noise per frame: lets G vary detail without a new z
    label_dim: int = 32  # label embedding width (conditional data only)
    dropout: float = 0.0  # between recurrent layers; GANs rarely want it
    out_scale: float = 1.25  # bound of the output, out_scale * tanh: real frames sit in about [-1, 1]

    def __post_init__(self) -> None:
        for key in ("hidden_size", "num_layers", "latent_dim"):
            if getattr(self, key) <= 0:
                raise audiogan.ConfigError(f"generator.{key}={getattr(self, key)!r} must be > 0")
        for key in ("noise_dim", "label_dim"):
            if getattr(self, key) < 0:
                raise audiogan.ConfigError(f"generator.{key}={getattr(self, key)!r} must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise audiogan.ConfigError(f"generator.dropout={self.dropout!r} must be in [0, 1)")
        if self.out_scale <= 0:
            raise audiogan.ConfigError(f"generator.out_scale={self.out_scale!r} must be > 0")


class _RNNGenerator(Generator):
    """Shared body of the LSTM and GRU generators."""

    cell: ClassVar[str]
    Config = RNNGeneratorConfig

    def __init__(
        self, config: RNNGeneratorConfig | None, feature_config: FeatureConfig, num_classes: int = 0
    ) -> None:
        super().__init__(config, feature_config, num_classes)
        c = self.config
        self.latent_dim = c.latent_dim
        self.label_embedding = nn.Embedding(num_classes, c.label_dim) if num_classes and c.label_dim else None
        cond_dim = c.latent_dim + (c.label_dim if self.label_embedding is not None else 0)
        self.n_state = 2 if self.cell == "lstm" else 1  # (h, c) for LSTM, h for GRU
        # z (and the label) pick the starting point of every layer's state.
        self.init_state = nn.Linear(cond_dim, self.n_state * c.num_layers * c.hidden_size)
        self.input_proj = nn.Linear(cond_dim + c.noise_dim, c.hidden_size)
        self.rnn = _RNN[self.cell](
            c.hidden_size,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(c.hidden_size, feature_config.n_mels)

    def _condition(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.label_embedding is None:
            return z
        if labels is None:
            raise audiogan.ConfigError(
                f"generator {self.name!r} was built for {self.num_classes} classes and needs labels"
            )
        return torch.cat([z, self.label_embedding(labels)], dim=-1)

    def _initial_state(self, cond: torch.Tensor) -> Any:
        c = self.config
        init = torch.tanh(self.init_state(cond))  # (B, n_state * L * H)
        parts = init.view(cond.shape[0], self.n_state, c.num_layers, c.hidden_size).permute(1, 2, 0, 3)
        parts = parts.contiguous()  # (n_state, L, B, H): the layout nn.LSTM/GRU expect
        return (parts[0], parts[1]) if self.n_state == 2 else parts[0]

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None, n_frames: int, state: Any | None = None
    ) -> tuple[torch.Tensor, Any]:
        """``z (B, latent_dim)``, ``labels (B,)`` or None -> ``frames (B, n_frames, n_mels)``, new state."""
        cond = self._condition(z, labels)
        if state is None:
            state = self._initial_state(cond)
        steps = cond.unsqueeze(1).expand(-1, n_frames, -1)
        if self.config.noise_dim:
            noise = torch.randn(z.shape[0], n_frames, self.config.noise_dim, device=z.device, dtype=z.dtype)
            steps = torch.cat([steps, noise], dim=-1)
        hidden, state = self.rnn(torch.relu(self.input_proj(steps)), state)
        frames = self.config.out_scale * torch.tanh(self.head(hidden))
        return frames, state


class LSTMGenerator(_RNNGenerator):
    """Multi-layer LSTM generator: latent z + per-frame noise + label embedding, tanh-bounded mels."""

    name = "lstm"
    cell = "lstm"


class GRUGenerator(_RNNGenerator):
    """Multi-layer GRU generator: latent z + per-frame noise + label embedding, tanh-bounded mels."""

    name = "gru"
    cell = "gru"


@dataclasses.dataclass
class RNNDiscriminatorConfig:
    """Hyperparameters of the bidirectional recurrent discriminators."""

    hidden_size: int = 256  # per direction
    num_layers: int = 2  # stacked bidirectional layers
    spectral_norm: bool = True  # on the input and output projections (keeps D Lipschitz-ish)
    scales: int = 1  # 2 also scores 2x time-pooled frames with the same network (multi-scale)
    dropout: float = 0.0  # between recurrent layers

    def __post_init__(self) -> None:
        for key in ("hidden_size", "num_layers", "scales"):
            if getattr(self, key) <= 0:
                raise audiogan.ConfigError(f"discriminator.{key}={getattr(self, key)!r} must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise audiogan.ConfigError(f"discriminator.dropout={self.dropout!r} must be in [0, 1)")


class _RNNDiscriminator(Discriminator):
    """Shared body of the LSTM and GRU discriminators."""

    cell: ClassVar[str]
    Config = RNNDiscriminatorConfig

    def __init__(
        self, config: RNNDiscriminatorConfig | None, feature_config: FeatureConfig, num_classes: int = 0
    ) -> None:
        super().__init__(config, feature_config, num_classes)
        c = self.config
        sn = spectral_norm if c.spectral_norm else (lambda module: module)
        self.input_proj = sn(nn.Linear(feature_config.n_mels, c.hidden_size))
        self.rnn = _RNN[self.cell](
            c.hidden_size,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.head = sn(nn.Linear(2 * c.hidden_size, 1))
        # Projection discriminator: logit += <embed(y), phi(x_t)>, one embedding row per class.
        self.projection = sn(nn.Embedding(num_classes, 2 * c.hidden_size)) if num_classes else None

    def _score(
        self, frames: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = nn.functional.leaky_relu(self.input_proj(frames), 0.2)  # (B, T, H)
        h, _ = self.rnn(x)  # (B, T, 2H)
        logits = self.head(h).squeeze(-1)  # (B, T)
        if self.projection is not None and labels is not None:
            logits = logits + (h * self.projection(labels).unsqueeze(1)).sum(-1)
        return logits, [x, h]

    def forward(
        self, frames: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``frames (B, T, M)`` -> per-frame logits ``(B, T')`` (T' = T, plus T//2 per extra scale) and
        features."""
        logits, features = self._score(frames, labels)
        all_logits = [logits]
        for scale in range(1, self.config.scales):
            factor = 2**scale
            if frames.shape[1] < factor:
                break
            pooled = nn.functional.avg_pool1d(frames.transpose(1, 2), factor).transpose(1, 2)
            more, more_features = self._score(pooled, labels)
            all_logits.append(more)
            features = features + more_features
        return torch.cat(all_logits, dim=1), features


class LSTMDiscriminator(_RNNDiscriminator):
    """Bidirectional LSTM discriminator: per-frame logits, label projection, spectral norm."""

    name = "lstm"
    cell = "lstm"


class GRUDiscriminator(_RNNDiscriminator):
    """Bidirectional GRU discriminator: per-frame logits, label projection, spectral norm."""

    name = "gru"
    cell = "gru"


@audiogan.hookimpl
def register_generators() -> list[type[Generator]]:
    """The built-in recurrent generators."""
    return [LSTMGenerator, GRUGenerator]


@audiogan.hookimpl
def register_discriminators() -> list[type[Discriminator]]:
    """The built-in recurrent discriminators."""
    return [LSTMDiscriminator, GRUDiscriminator]
