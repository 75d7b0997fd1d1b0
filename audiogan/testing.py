"""Contract checks and tiny fixtures for plugin authors' own test suites.

A plugin's tests can be three lines::

    from audiogan.testing import check_generator, check_discriminator, check_pair
    from audiogan_mygen import MyGenerator, MyDiscriminator

    def test_contract():
        check_pair(MyGenerator, MyDiscriminator)

Every check builds the class with its default ``Config`` on tiny shapes (8 kHz, hop 64, 16 mels,
a few frames), so it runs in well under a second on a CPU. Failures raise ``AssertionError`` or
:class:`~audiogan.errors.PluginError` with a message saying what broke. The pytest fixtures
``tiny_feature_config``, ``tiny_log_mel`` and ``audiogan_registry`` are importable from here
(``from audiogan.testing import tiny_feature_config``) or via ``pytest_plugins = ["audiogan.testing"]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from audiogan.components import Discriminator, Generator, Vocoder
from audiogan.config import FeatureConfig
from audiogan.contracts import (
    check_discriminator_output,
    check_generator_output,
    check_vocoder_output,
    describe,
)
from audiogan.runtime import one_thread

__all__ = [
    "check_discriminator",
    "check_generator",
    "check_pair",
    "check_vocoder",
    "tiny_features",
    "tiny_mel",
]

BATCH = 3
NUM_CLASSES = 3
F = TypeVar("F", bound=Callable[..., Any])


def _tiny(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def tiny_features() -> FeatureConfig:
    """A tiny FeatureConfig (8 kHz, n_fft 256, hop 64, 16 mels) with plausible normalisation stats."""
    n_mels = 16
    return FeatureConfig(
        sample_rate=8000,
        n_fft=256,
        hop_length=64,
        n_mels=n_mels,
        mel_mean=[-5.0] * n_mels,
        mel_std=[2.0] * n_mels,
    )


def tiny_mel(feature_config: FeatureConfig | None = None, batch: int = 2, n_frames: int = 12) -> torch.Tensor:
    """Vocoder input ``(batch, n_mels, n_frames)``: the real log-mel of harmonic tones, not noise."""
    import torchaudio  # local: only vocoder checks need it

    fc = feature_config or tiny_features()
    samples = (n_frames - 1) * fc.hop_length
    t = torch.arange(samples) / fc.sample_rate
    waves = torch.stack(
        [
            sum(torch.sin(2 * math.pi * k * (150.0 + 60.0 * b) * t) / k for k in range(1, 5)) * 0.3
            for b in range(batch)
        ]
    )
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=fc.sample_rate,
        n_fft=fc.n_fft,
        hop_length=fc.hop_length,
        win_length=fc.win,
        f_min=fc.f_min,
        f_max=fc.f_max,
        n_mels=fc.n_mels if fc.scale == "mel" else 4,
        power=1.0,
    )
    if fc.scale == "linear":
        from audiogan.features import linear_basis

        mel.mel_scale.fb = linear_basis(fc)
    return torch.log(mel(waves).clamp_min(fc.log_floor))


def _build(
    cls: type, kind_base: type, feature_config: FeatureConfig, num_classes: int, config: Any = None
) -> nn.Module:
    assert isinstance(cls, type) and issubclass(cls, kind_base), (
        f"{cls!r} is not a subclass of audiogan.{kind_base.__name__}"
    )
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name.strip(), f"{cls.__qualname__} has no name"
    assert (cls.__dict__.get("__doc__") or "").strip(), (
        f"{cls.__qualname__} has no docstring (its description)"
    )
    module = cls(config if config is not None else cls.Config(), feature_config, num_classes)
    assert isinstance(module, nn.Module), f"{cls.__qualname__}(...) did not build an nn.Module"
    return module


def _labels(num_classes: int, batch: int = BATCH) -> torch.Tensor | None:
    return torch.arange(batch) % num_classes if num_classes else None


def _missing_grads(module: nn.Module) -> list[str]:
    return [
        n
        for n, p in module.named_parameters()
        if p.requires_grad and (p.grad is None or not bool(torch.isfinite(p.grad).all()))
    ]


def _map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor], where: str) -> Any:
    """Apply ``fn`` to every tensor of a recurrent state (tensors, tuples/lists/dicts of them)."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else fn(state)
    if isinstance(state, (tuple, list)):
        return type(state)(_map_state(s, fn, where) for s in state)
    if isinstance(state, dict):
        return {k: _map_state(v, fn, where) for k, v in state.items()}
    raise AssertionError(
        f"{where}: state holds a {type(state).__name__}; only tensors and tuples/lists/dicts of tensors"
    )


@_tiny
def check_generator(
    cls: type[Generator],
    feature_config: FeatureConfig | None = None,
    num_classes: int = NUM_CLASSES,
    config: Any = None,
) -> Generator:
    """Check a generator class: shapes, dtype, finiteness, gradient flow and state continuation.

    Builds it conditional (``num_classes``) and unconditional. Continuation: a second call with the
    returned state must differ from a fresh start; if the generator is deterministic given ``z``
    (no per-frame noise), two chunks must equal one long call exactly.

    :return: the conditional instance, for further checks of your own.
    """
    fc = feature_config or tiny_features()
    models = []
    for classes in (num_classes, 0) if num_classes else (0,):
        g = _build(cls, Generator, fc, classes, config)
        where = describe(g)
        latent = getattr(g, "latent_dim", None)
        assert isinstance(latent, int) and latent > 0, (
            f"{where}: latent_dim must be a positive int, got {latent!r}"
        )
        labels = _labels(classes)
        torch.manual_seed(0)
        g.train()
        z = torch.randn(BATCH, latent, requires_grad=True)
        frames, state = g(z, labels, 7)
        check_generator_output(g, frames, BATCH, 7)
        frames.square().mean().backward()
        assert z.grad is not None and bool(z.grad.abs().sum() > 0), f"{where}: frames do not depend on z"
        missing = _missing_grads(g)
        assert not missing, f"{where}: no finite gradient reaches {', '.join(missing)}"
        _check_continuation(g, labels)
        models.append(g)
    return models[0]


def _check_continuation(g: Generator, labels: torch.Tensor | None) -> None:
    where = describe(g)
    g.eval()
    z = torch.randn(BATCH, g.latent_dim)
    with torch.no_grad():
        torch.manual_seed(1)
        first, state = g(z, labels, 5)
        state = _map_state(state, lambda t: t.detach().clone(), where)
        assert state is not None, f"{where}: returned no state, so generation cannot continue past one call"
        finite: list[bool] = []
        _map_state(state, lambda t: finite.append(bool(torch.isfinite(t).all())) or t, where)
        assert all(finite), f"{where}: the returned state has non-finite values"
        torch.manual_seed(2)
        continued, _ = g(z, labels, 6, state)
        check_generator_output(g, continued, BATCH, 6)
        torch.manual_seed(2)
        fresh, _ = g(z, labels, 6, None)
        assert not torch.allclose(continued, fresh), (
            f"{where}: the state passed to the second call has no effect"
        )
        torch.manual_seed(3)
        long_a, _ = g(z, labels, 11)
        torch.manual_seed(4)
        long_b, _ = g(z, labels, 11)
        if torch.equal(long_a, long_b):  # deterministic given z: chunks must join without a seam
            torch.testing.assert_close(
                torch.cat([first, continued], dim=1),
                long_a,
                atol=1e-5,
                rtol=1e-4,
                msg=lambda m: f"{where}: two chunks differ from one long call: {m}",
            )
    g.train()


@_tiny
def check_discriminator(
    cls: type[Discriminator],
    feature_config: FeatureConfig | None = None,
    num_classes: int = NUM_CLASSES,
    config: Any = None,
) -> Discriminator:
    """Check a discriminator class: logits and features shapes, finiteness, any length, input gradients.

    :return: the conditional instance.
    """
    fc = feature_config or tiny_features()
    models = []
    for classes in (num_classes, 0) if num_classes else (0,):
        d = _build(cls, Discriminator, fc, classes, config)
        where = describe(d)
        labels = _labels(classes)
        d.train()
        torch.manual_seed(0)
        for n_frames in (9, 4):
            frames = (0.5 * torch.randn(BATCH, n_frames, fc.n_mels)).requires_grad_(True)
            logits, features = d(frames, labels)
            check_discriminator_output(d, logits, features, BATCH)
            d.zero_grad()
            (logits.mean() + sum(f.float().mean() for f in features)).backward()
            assert frames.grad is not None and bool(frames.grad.abs().sum() > 0), (
                f"{where}: logits do not depend on the frames"
            )
            assert bool(torch.isfinite(frames.grad).all()), f"{where}: non-finite gradient w.r.t. the frames"
        missing = _missing_grads(d)
        assert not missing, f"{where}: no finite gradient reaches {', '.join(missing)}"
        models.append(d)
    return models[0]


@_tiny
def check_vocoder(
    cls: type[Vocoder], feature_config: FeatureConfig | None = None, config: Any = None
) -> Vocoder:
    """Check a vocoder class on the log-mel of real tones: waveform shape, dtype, finiteness, level.

    Trainable vocoders must also implement ``fit`` and pass gradients to every parameter.

    :return: the instance.
    """
    fc = feature_config or tiny_features()
    v = _build(cls, Vocoder, fc, 0, config)
    where = describe(v)
    mel = tiny_mel(fc, batch=2, n_frames=12)
    trainable = bool(getattr(cls, "trainable", False))
    with torch.set_grad_enabled(trainable):
        wave = v(mel)
    check_vocoder_output(v, wave, 2, 12)
    assert bool(wave.detach().abs().max() > 1e-4), f"{where}: silent output for the log-mel of loud tones"
    if trainable:
        assert cls.fit is not Vocoder.fit, f"{where}: trainable but without a fit() method"
        wave.abs().mean().backward()
        missing = _missing_grads(v)
        assert not missing, f"{where}: no finite gradient reaches {', '.join(missing)}"
    return v


@_tiny
def check_pair(
    gen_cls: type[Generator],
    disc_cls: type[Discriminator],
    feature_config: FeatureConfig | None = None,
    num_classes: int = NUM_CLASSES,
) -> tuple[Generator, Discriminator]:
    """Both single checks, then one real hinge-loss training step of each: losses finite, weights move.

    :return: the trained ``(generator, discriminator)``.
    """
    fc = feature_config or tiny_features()
    check_generator(gen_cls, fc, num_classes)
    check_discriminator(disc_cls, fc, num_classes)
    torch.manual_seed(0)
    g = _build(gen_cls, Generator, fc, num_classes)
    d = _build(disc_cls, Discriminator, fc, num_classes)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99))
    labels = _labels(num_classes, 4)
    n_frames = 8
    # "Real" data: smooth random curves in [-1, 1], the normalised feature scale.
    real = torch.tanh(torch.cumsum(0.3 * torch.randn(4, n_frames, fc.n_mels), dim=1))
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]

    fake, _ = g(torch.randn(4, g.latent_dim), labels, n_frames)
    real_logits, _ = d(real, labels)
    fake_logits, _ = d(fake.detach(), labels)
    d_loss = torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()

    fake_logits, _ = d(fake, labels)
    g_loss = -fake_logits.mean()
    opt_g.zero_grad()
    g_loss.backward()
    missing = _missing_grads(g)
    assert not missing, f"{describe(g)}: the discriminator's loss sends no gradient to {', '.join(missing)}"
    opt_g.step()

    for loss, label in ((d_loss, "discriminator"), (g_loss, "generator")):
        assert bool(torch.isfinite(loss)), f"{label} loss is {loss.item()} after one step"
    assert any(not torch.equal(a, p) for a, p in zip(before_g, g.parameters())), (
        f"{describe(g)}: weights did not change"
    )
    assert any(not torch.equal(a, p) for a, p in zip(before_d, d.parameters())), (
        f"{describe(d)}: weights did not change"
    )
    return g, d


# --------------------------------------------------------------------------- pytest fixtures

try:  # pytest is a test-time dependency only; the checks above work without it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture
    def tiny_feature_config() -> FeatureConfig:
        """Fixture: :func:`tiny_features`."""
        return tiny_features()

    @pytest.fixture
    def tiny_log_mel(tiny_feature_config: FeatureConfig) -> torch.Tensor:
        """Fixture: :func:`tiny_mel` ``(2, 16, 12)`` for the tiny feature config."""
        return tiny_mel(tiny_feature_config)

    @pytest.fixture
    def audiogan_registry():
        """Fixture: a strict :func:`audiogan.plugins.get_registry` (plugin import failures raise)."""
        from audiogan.plugins import get_registry

        return get_registry(strict=True)
