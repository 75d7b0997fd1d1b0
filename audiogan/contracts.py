"""Runtime checks of a component's outputs against its contract (shapes, dtype, finiteness).

The engine calls these on a component's first use, so a broken plugin fails at once with a
one-line :class:`~audiogan.errors.PluginError` that names the plugin, instead of a shape error
deep inside a loss. :mod:`audiogan.testing` runs the same checks in plugin authors' tests.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from audiogan.errors import AudioganError, PluginError
from audiogan.plugins import plugin_of

__all__ = [
    "blame",
    "call",
    "check_discriminator_output",
    "check_generator_output",
    "check_vocoder_output",
    "describe",
]


def describe(component: nn.Module) -> str:
    """``generator 'lstm' (plugin 'rnn')``: how errors name a component."""
    kind = getattr(component, "kind", "component")
    name = getattr(component, "name", type(component).__qualname__)
    return f"{kind} {name!r} (plugin {plugin_of(component)!r})"


def call(component: nn.Module, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` (a plugin component's forward or a closure calling it); an exception
    from plugin code becomes a one-line :class:`PluginError` naming the component.

    User errors (AudioganError) pass through unchanged, as do KeyboardInterrupt and SystemExit.
    """
    try:
        return fn(*args, **kwargs)
    except AudioganError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise PluginError(f"{describe(component)} failed: {type(exc).__name__}: {first}") from exc


def blame(exc: BaseException, components: Sequence[nn.Module]) -> PluginError | None:
    """The one-line :class:`PluginError` for ``exc`` if it was raised inside one of ``components``' code.

    Used where a whole training step (many forward calls, backward, optimiser) runs at once and
    wrapping each call is impractical: the innermost traceback frame that belongs to a
    component's own module decides which plugin is named. ``None`` when no component's code is
    on the traceback (an engine bug keeps its traceback).
    """
    if isinstance(exc, AudioganError) or not isinstance(exc, Exception):
        return None
    owners: dict[str, nn.Module] = {}
    for component in components:
        for cls in type(component).__mro__:
            module = getattr(cls, "__module__", "") or ""
            if module.startswith(("audiogan.", "torch")) or module in ("audiogan", "builtins", "abc"):
                continue
            owners.setdefault(module, component)
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        component = owners.get(frame.f_globals.get("__name__", ""))
        if component is not None:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return PluginError(f"{describe(component)} failed: {type(exc).__name__}: {first}")
    return None


def _fail(component: nn.Module, what: str) -> None:
    raise PluginError(f"{describe(component)} broke its contract: {what}")


def _check_tensor(
    component: nn.Module, value: Any, label: str, shape: Sequence[int | None] | None = None
) -> torch.Tensor:
    """A floating tensor of ``shape`` (None = any size) with finite values."""
    if not isinstance(value, torch.Tensor):
        _fail(component, f"{label} is a {type(value).__name__}, expected a torch.Tensor")
    if not value.is_floating_point():
        _fail(component, f"{label} has dtype {value.dtype}, expected a floating dtype")
    if shape is not None:
        ok = value.dim() == len(shape) and all(w is None or s == w for s, w in zip(value.shape, shape))
        if not ok:
            wanted = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ")"
            _fail(component, f"{label} has shape {tuple(value.shape)}, expected {wanted}")
    if not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        _fail(component, f"{label} has {bad} non-finite values (NaN or inf)")
    return value


def check_generator_output(generator: nn.Module, frames: Any, batch: int, n_frames: int) -> None:
    """Check a generator's ``frames``: floating ``(batch, n_frames, n_mels)``, all finite.

    :raises PluginError: naming the plugin and what is wrong.
    """
    n_mels = generator.feature_config.n_mels
    _check_tensor(generator, frames, "frames", (batch, n_frames, n_mels))


def check_discriminator_output(discriminator: nn.Module, logits: Any, features: Any, batch: int) -> None:
    """Check a discriminator's ``(logits, features)``.

    logits: floating ``(batch,)`` or ``(batch, T')``, finite; features: a list or tuple of finite
    floating tensors, each with the batch first.

    :raises PluginError: naming the plugin and what is wrong.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() not in (1, 2):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        _fail(discriminator, f"logits have shape {shape}, expected ({batch},) or ({batch}, T')")
    _check_tensor(discriminator, logits, "logits", (batch,) if logits.dim() == 1 else (batch, None))
    if not isinstance(features, (list, tuple)):
        _fail(discriminator, f"features is a {type(features).__name__}, expected a list of tensors")
    for i, feature in enumerate(features):
        if not isinstance(feature, torch.Tensor) or feature.dim() < 1:
            _fail(discriminator, f"features[{i}] is not a tensor with a batch dimension")
        _check_tensor(discriminator, feature, f"features[{i}]", (batch,) + (None,) * (feature.dim() - 1))


def check_vocoder_output(vocoder: nn.Module, waveform: Any, batch: int, n_frames: int) -> None:
    """Check a vocoder's waveform: floating ``(batch, S)``, finite, S within one FFT of the frames.

    S may be ``(n_frames - 1) * hop`` (centred STFT framing) or ``n_frames * hop`` (upsampling
    vocoders); anything further than ``n_fft`` samples from both is a broken contract.

    :raises PluginError: naming the plugin and what is wrong.
    """
    fc = vocoder.feature_config
    _check_tensor(vocoder, waveform, "waveform", (batch, None))
    samples = waveform.shape[1]
    low, high = (n_frames - 1) * fc.hop_length - fc.n_fft, n_frames * fc.hop_length + fc.n_fft
    if not low <= samples <= high:
        _fail(
            vocoder,
            f"waveform has {samples} samples for {n_frames} frames; expected about "
            f"{n_frames} x hop {fc.hop_length} = {n_frames * fc.hop_length}",
        )
