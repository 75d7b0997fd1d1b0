"""GAN objectives and penalties, selectable by name.

Discriminators may return per-frame logits ``(B, T)``; :func:`sequence_scores` averages them
(over real frames only, when a mask is given) into one score per sequence, as in C-RNN-GAN, and
the losses below work on those ``(B,)`` scores. Higher scores mean "more real".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from audiogan.errors import ConfigError

LOSSES = ("hinge", "non-saturating", "least-squares", "wgan-gp")


def check_loss(name: str) -> str:
    """Return ``name`` if it is a known loss, else a one-line :class:`ConfigError`."""
    if name not in LOSSES:
        raise ConfigError(f"train.loss={name!r}: expected one of {', '.join(LOSSES)}")
    return name


def sequence_scores(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Average per-frame logits ``(B, T')`` into ``(B,)`` scores; ``(B,)`` passes through.

    ``mask (B, T)`` (True = real frame) applies to the first ``T`` logits, the full-rate scale;
    any extra multi-scale logits beyond ``T`` are averaged unmasked.
    """
    logits = logits.float()
    if logits.dim() == 1:
        return logits
    if mask is None or bool(mask.shape[1] > logits.shape[1]):
        return logits.mean(dim=1)
    t = mask.shape[1]
    weights = torch.ones_like(logits)
    weights[:, :t] = mask.to(logits.dtype)
    return (logits * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def discriminator_loss(name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss from real and fake ``(B,)`` scores (the WGAN-GP penalty is added separately)."""
    if name == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if name == "non-saturating":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if name == "least-squares":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()
    if name == "wgan-gp":
        return fake.mean() - real.mean()
    raise ConfigError(f"train.loss={name!r}: expected one of {', '.join(LOSSES)}")


def generator_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    """G's adversarial loss from the fake ``(B,)`` scores."""
    if name in ("hinge", "wgan-gp"):
        return -fake.mean()
    if name == "non-saturating":
        return F.softplus(-fake).mean()
    if name == "least-squares":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    raise ConfigError(f"train.loss={name!r}: expected one of {', '.join(LOSSES)}")


def feature_matching_loss(
    real_features: list[torch.Tensor], fake_features: list[torch.Tensor]
) -> torch.Tensor:
    """L1 distance between batch-and-time means of D's intermediate features (Salimans et al. 2016).

    Real features are treated as constants; each layer contributes equally.
    """
    if not fake_features:
        raise ConfigError("train.feature_matching needs a discriminator that returns features")
    total = fake_features[0].new_zeros((), dtype=torch.float32)
    for real, fake in zip(real_features, fake_features):
        dims = tuple(range(real.dim() - 1))  # all but the channel dimension
        total = total + (real.detach().float().mean(dims) - fake.float().mean(dims)).abs().mean()
    return total / len(fake_features)


def _same_class_pairs(size: int, labels: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """``(B, B)`` float weights: 1 for each pair ``i < j`` of one class (every pair when unlabelled)."""
    pairs = torch.ones(size, size, device=device, dtype=torch.bool).triu(1)
    if labels is not None:
        pairs = pairs & (labels[:, None] == labels[None, :])
    return pairs.float()


def mode_seeking_loss(
    fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None, eps: float = 1e-5
) -> torch.Tensor:
    """Mode seeking (MSGAN, Mao et al. 2019): ``1 / (mean |G(z1) - G(z2)| / mean |z1 - z2| + eps)``.

    Pairs are the clips of one class within the batch (a conditional GAN collapses per class, and
    pairs across classes would reward the distance between classes instead). ``fake (B, T, M)``,
    ``z (B, Z)``; 0 when the batch holds no such pair. No host sync.
    """
    size = fake.shape[0]
    flat = fake.float().reshape(size, -1)
    weights = _same_class_pairs(size, labels, fake.device)
    out_distance = (torch.cdist(flat, flat, p=1) / flat.shape[1] * weights).sum()
    z_distance = (torch.cdist(z.float(), z.float(), p=1) / z.shape[1] * weights).sum()
    ratio = out_distance / z_distance.clamp_min(eps)
    return torch.where(weights.sum() > 0, 1.0 / (ratio + eps), torch.zeros_like(ratio))


def _within_class_spread(clips: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """Per-channel RMS deviation of ``clips (B, C)`` from their class's mean in the batch, ``(C,)``."""
    if labels is None or num_classes < 1:
        return (clips - clips.mean(0, keepdim=True)).pow(2).mean(0).add(1e-8).sqrt()
    one_hot = F.one_hot(labels, num_classes).to(clips.dtype)  # (B, K)
    counts = one_hot.sum(0).clamp_min(1.0)  # (K,)
    means = (one_hot.t() @ clips) / counts[:, None]  # (K, C)
    deviation = clips - one_hot @ means
    # Clips alone in their class deviate by 0 for real and fake alike: they add nothing either way.
    return deviation.pow(2).mean(0).add(1e-8).sqrt()


def feature_spread_loss(
    real_features: list[torch.Tensor],
    fake_features: list[torch.Tensor],
    labels: torch.Tensor | None = None,
    num_classes: int = 0,
) -> torch.Tensor:
    """L1 distance between the within-class spread of D's clip-level features, real vs fake.

    Feature matching (:func:`feature_matching_loss`) compares means, which a generator that
    makes one clip per class (the class mean) satisfies exactly; this term compares how far the
    clips of one class lie from their class mean (per channel, time-averaged features), so a
    collapsed class costs as much as its real spread. Real and fake batches share ``labels``.
    """
    if not fake_features:
        raise ConfigError("train.feature_spread needs a discriminator that returns features")
    total = fake_features[0].new_zeros((), dtype=torch.float32)
    for real, fake in zip(real_features, fake_features):
        real_clips = real.detach().float().reshape(real.shape[0], -1, real.shape[-1]).mean(1)
        fake_clips = fake.float().reshape(fake.shape[0], -1, fake.shape[-1]).mean(1)
        spread_real = _within_class_spread(real_clips, labels, num_classes)
        spread_fake = _within_class_spread(fake_clips, labels, num_classes)
        total = total + (spread_real - spread_fake).abs().mean()
    return total / len(fake_features)


ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def _input_gradients(score_fn: ScoreFn, inputs: torch.Tensor) -> torch.Tensor:
    # Double backward through an RNN is not implemented by cuDNN; the native kernels support it.
    with torch.backends.cudnn.flags(enabled=False):
        inputs = inputs.detach().requires_grad_(True)
        scores = score_fn(inputs)
        (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    return grad


def r1_penalty(score_fn: ScoreFn, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): batch mean of ``|grad_x D(x)|^2`` at real data (weight gamma/2 outside)."""
    grad = _input_gradients(score_fn, real)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def gradient_penalty(score_fn: ScoreFn, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``(|grad D(x_hat)| - 1)^2`` at random real/fake interpolates."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = alpha * real.detach() + (1.0 - alpha) * fake.detach()
    grad = _input_gradients(score_fn, mixed)
    norm = grad.float().flatten(1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()
