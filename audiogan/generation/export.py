"""Export a run's EMA generator (and its trained vocoder, when it has one) as a standalone file.

The TorchScript file runs with nothing but ``torch`` installed::

    files = {"audiogan.json": ""}
    m = torch.jit.load("model.ts", _extra_files=files)   # files["audiogan.json"]: sample rate, labels...
    frames, *state = m.start(z, labels)                   # z (B, latent_dim), labels (B,) int64
    frames2, *state = m.step(z, labels, *state)           # the next chunk, seamlessly
    log_mel = m.to_log_mel(torch.cat([frames, frames2], 1))  # (B, M, T), the vocoder's scale
    audio = m.vocode(log_mel)                             # (B, S), only when a neural vocoder was exported

Each call makes a fixed ``chunk_frames`` frames; the recurrent state travels as explicit tensors.
A generator that draws per-frame noise draws it from torch's global RNG in the loading process
(seed it with ``torch.manual_seed`` for repeatable output). ``labels`` is ignored by
unconditional models (pass zeros).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from audiogan import __version__
from audiogan.errors import ConfigError
from audiogan.fileio import atomic_path

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

__all__ = ["export", "export_torchscript"]


def _flatten(state: Any) -> tuple[list[torch.Tensor], Any]:
    """Tensors of a (nested) tuple/list state, and a spec to rebuild it."""
    if isinstance(state, torch.Tensor):
        return [state], "T"
    if isinstance(state, (tuple, list)):
        tensors, specs = [], []
        for item in state:
            t, s = _flatten(item)
            tensors += t
            specs.append(s)
        return tensors, specs
    raise ConfigError(
        f"cannot export a generator whose state is a {type(state).__name__} (tensors or tuples only)"
    )


def _unflatten(tensors: list[torch.Tensor], spec: Any) -> Any:
    it = iter(tensors)

    def build(s: Any) -> Any:
        return next(it) if s == "T" else tuple(build(x) for x in s)

    return build(spec)


class _Exportable(nn.Module):
    """The traced surface: ``start``/``step`` (generator), ``to_log_mel``, optional ``vocode``."""

    def __init__(
        self,
        generator: nn.Module,
        mean: torch.Tensor,
        scale: torch.Tensor,
        chunk: int,
        vocoder: nn.Module | None,
        spec: Any = None,
    ) -> None:
        super().__init__()
        self.generator, self.vocoder, self.chunk, self.spec = generator, vocoder, int(chunk), spec
        self.conditional = generator.num_classes > 0
        self.register_buffer("mean", mean.clone())
        self.register_buffer("scale", scale.clone())

    def start(self, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``z (B, latent)``, ``labels (B,)`` -> ``(frames (B, chunk, M), *state)``."""
        frames, state = self.generator(z, labels if self.conditional else None, self.chunk, None)
        return (frames, *_flatten(state)[0])

    def step(self, z: torch.Tensor, labels: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Continue from ``state``: ``(frames (B, chunk, M), *new_state)``."""
        frames, new = self.generator(
            z, labels if self.conditional else None, self.chunk, _unflatten(list(state), self.spec)
        )
        return (frames, *_flatten(new)[0])

    def to_log_mel(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, T, M)`` -> natural-log magnitude mel ``(B, M, T)``."""
        return (frames * self.scale + self.mean).transpose(1, 2)

    def vocode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """``(B, M, T)`` log-mel -> ``(B, S)`` waveform."""
        assert self.vocoder is not None
        return self.vocoder(log_mel)


def export_torchscript(
    synth: Synthesizer, out: str | Path, chunk_frames: int = 32, batch: int = 2
) -> dict[str, Any]:
    """Trace ``synth``'s generator (+ a non-Griffin-Lim vocoder) and write ``out`` atomically.

    The traced module is checked against the eager one (same inputs and RNG seed) before it is
    written; a mismatch is a ConfigError naming the largest difference. Returns the metadata.
    """
    if chunk_frames < 1:
        raise ConfigError(f"--chunk-frames {chunk_frames} must be >= 1")
    gen, fc = synth.generator.cpu().eval(), synth.feature_config
    vocoder = None if synth.vocoder_name == "griffinlim" else synth.vocoder.cpu().eval()
    mean = torch.tensor(fc.mel_mean, dtype=torch.float32)
    scale = fc.norm_scale * torch.tensor(fc.mel_std, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, gen.latent_dim, generator=g)
    labels = torch.randint(max(1, synth.num_classes), (batch,), generator=g)
    with torch.no_grad():
        probe = _Exportable(gen, mean, scale, chunk_frames, vocoder)
        first = probe.start(z, labels)
        _, spec = _flatten(gen(z, labels if probe.conditional else None, 1, None)[1])
        module = _Exportable(gen, mean, scale, chunk_frames, vocoder, spec)
        inputs: dict[str, tuple] = {
            "start": (z, labels),
            "step": (z, labels, *first[1:]),
            "to_log_mel": (first[0],),
        }
        if vocoder is not None:
            inputs["vocode"] = (module.to_log_mel(first[0]),)
        with warnings.catch_warnings():
            # TracerWarnings about nn.RNN's own shape checks and torch.jit's deprecation notice
            # are noise here: _verify compares the traced module with the eager one.
            warnings.simplefilter("ignore")
            traced = torch.jit.trace_module(module, inputs, check_trace=False)
        _verify(module, traced, inputs)
    meta = {
        "format": "audiogan-torchscript",
        "audiogan_version": __version__,
        "generator": synth.meta.get("name"),
        "step": synth.meta.get("step"),
        "checkpoint": synth.meta.get("checkpoint"),
        "vocoder": synth.vocoder_name if vocoder is not None else None,
        "chunk_frames": int(chunk_frames),
        "latent_dim": int(gen.latent_dim),
        "state_tensors": len(first) - 1,
        "class_names": list(synth.class_names),
        "feature_config": fc.to_dict(),
        "methods": sorted(inputs),
    }
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(traced, str(tmp), _extra_files={"audiogan.json": json.dumps(meta)})
    synth.generator.to(synth.device)
    synth.vocoder.to(synth.device)
    return meta


def _verify(eager: nn.Module, traced: Any, inputs: dict[str, tuple]) -> None:
    """Run both with the same RNG seed; any difference beyond float noise is an error."""
    for name, args in inputs.items():
        torch.manual_seed(0)
        want = getattr(eager, name)(*args)
        torch.manual_seed(0)
        got = getattr(traced, name)(*args)
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        for a, b in zip(want, got):
            # Float noise relative to the output's scale: an iterative vocoder (istft's projections)
            # traced through other FFT kernels drifts by up to ~3e-4 of its peak (seen with a
            # random-weight istft vocoder on whole-sound frames), so allow -60 dB of the peak.
            if a.shape != b.shape or float((a - b).abs().max()) > 1e-5 + 1e-3 * float(a.abs().max()):
                diff = (
                    (a - b).abs().max().item()
                    if a.shape == b.shape
                    else f"shape {tuple(b.shape)} vs {tuple(a.shape)}"
                )
                raise ConfigError(
                    f"traced {name}() does not match the eager model (max difference {diff}); "
                    "the generator is not traceable"
                )


def export(
    path: str | Path,
    out: str | Path,
    format: str = "torchscript",
    chunk_frames: int = 32,
    force: bool = False,
    plugins: tuple[str, ...] = (),
    vocoder: str | None = None,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Export run ``path`` to ``out`` as ``torchscript`` or ``onnx`` (see :mod:`.onnx_export`).

    ``checkpoint`` picks the generator as :func:`audiogan.generation.generate.load` does (default:
    the run's best, else its generator.pt); the metadata's ``checkpoint`` records which."""
    from audiogan.generation.generate import load

    out = Path(out)
    targets = [out]
    if format == "onnx":
        from audiogan.generation.onnx_export import onnx_paths

        targets = list(onnx_paths(out).values())
    for target in targets:
        if target.exists() and not force:
            raise ConfigError(f"{target} exists; pass --force to overwrite")
    if format == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise ConfigError("format 'onnx' needs the onnx package: pip install onnx") from None
    elif format != "torchscript":
        raise ConfigError(f"export format {format!r}: choose torchscript or onnx")
    synth = load(path, device="cpu", vocoder=vocoder, plugins=plugins, checkpoint=checkpoint)
    if format == "torchscript":
        return export_torchscript(synth, out, chunk_frames)
    from audiogan.generation.onnx_export import export_onnx

    return export_onnx(synth, out, chunk_frames)
