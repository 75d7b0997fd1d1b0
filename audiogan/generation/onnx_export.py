"""ONNX export: the EMA generator (and the vocoder, where ONNX can express it) for onnxruntime.

``audiogan export RUN --format onnx --out NAME.onnx`` writes

* ``NAME.onnx``: ``start(z, labels, noise_0 ...) -> (frames, log_mel, state_0 ...)``;
* ``NAME.step.onnx``: ``step(z, labels, state_0 ..., noise_0 ...) -> (frames, log_mel, state_0 ...)``,
  which continues the same sequences seamlessly, chunk after chunk;
* ``NAME.vocoder.onnx``: ``log_mel (B, M, T) -> audio (B, S)``, only when the vocoder exports.

Shapes: ``z (B, latent_dim)`` float32, ``labels (B,)`` int64 (zeros for an unconditional
model), ``frames (B, chunk, M)`` in the engine's normalised scale, ``log_mel (B, M, chunk)`` in
the vocoder's scale. Every graph has a dynamic batch axis. The per-frame noise that a generator
draws with ``torch.randn`` becomes explicit inputs ``noise_k`` (standard normal, shapes in the
metadata), so the host owns all randomness and the same inputs give the same frames as torch.

Each file carries the metadata as ``metadata_props["audiogan"]`` (JSON: sample rate, STFT and
mel settings, class names, chunk size, input shapes, what the vocoder file holds or why it was
left out), which ``docs/onnx_player.py`` reads to generate a WAV with onnxruntime and numpy alone.
When onnxruntime is installed, every exported graph is run and compared with torch before the
export is reported as done.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from audiogan import __version__
from audiogan.errors import ConfigError, PluginError
from audiogan.fileio import atomic_path

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

__all__ = ["ONNX_OPSET", "export_onnx", "feed_randn", "onnx_paths"]

#: The ONNX opset the graphs are written for (onnxruntime 1.17+ runs it).
ONNX_OPSET = 17
#: |onnxruntime - torch| allowed, relative to the output's peak (float32 kernels differ slightly).
TOLERANCE = 1e-4


def onnx_paths(out: str | Path) -> dict[str, Path]:
    """Where ``export_onnx`` writes: ``start`` (``out`` itself), ``step`` and ``vocoder``."""
    out = Path(out)
    stem = out.with_suffix("")
    return {"start": out, "step": Path(f"{stem}.step.onnx"), "vocoder": Path(f"{stem}.vocoder.onnx")}


@contextlib.contextmanager
def feed_randn(values: list[torch.Tensor] | None = None) -> Iterator[list[torch.Tensor]]:
    """While active, ``torch.randn(*shape)`` returns the next tensor of ``values`` (which must
    have that shape) instead of drawing; with ``values=None`` it draws as usual and records what
    it drew. Yields the list of tensors handed out. The tracer then sees the noise as an input."""
    original = torch.randn
    handed: list[torch.Tensor] = []
    feed = iter(values) if values is not None else None

    def randn(*size: Any, **kwargs: Any) -> torch.Tensor:
        if feed is None:
            drawn = original(*size, **kwargs)
            handed.append(drawn)
            return drawn
        value = next(feed, None)
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
        if value is None or (shape and not torch.jit.is_tracing() and tuple(value.shape) != shape):
            raise ConfigError(f"the generator drew noise of shape {shape} that the export did not plan for")
        handed.append(value)
        return value

    torch.randn = randn  # type: ignore[assignment]
    try:
        yield handed
    finally:
        torch.randn = original  # type: ignore[assignment]


def _flat(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, (tuple, list)):
        return [t for item in state for t in _flat(item)]
    raise ConfigError(f"cannot export a generator whose state is a {type(state).__name__} (tensors only)")


def _rebuild(tensors: list[torch.Tensor], like: Any) -> Any:
    it = iter(tensors)

    def build(s: Any) -> Any:
        return next(it) if isinstance(s, torch.Tensor) else type(s)(build(x) for x in s)

    return build(like)


class _Chunk(nn.Module):
    """One graph: a chunk of ``chunk`` frames, from z (``start``) or from a given state (``step``)."""

    def __init__(
        self, generator: nn.Module, mean: torch.Tensor, scale: torch.Tensor, chunk: int, state_like: Any
    ) -> None:
        super().__init__()
        self.generator, self.chunk, self.state_like = generator, int(chunk), state_like
        self.conditional = generator.num_classes > 0
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)

    def run(
        self, z: torch.Tensor, labels: torch.Tensor, state: list[torch.Tensor], noise: list[torch.Tensor]
    ):
        previous = _rebuild(state, self.state_like) if state else None
        with feed_randn(noise):
            frames, new = self.generator(z, labels if self.conditional else None, self.chunk, previous)
        log_mel = (frames * self.scale + self.mean).transpose(1, 2)
        return (frames, log_mel, *_flat(new))


class _Start(_Chunk):
    def __init__(self, *args: Any, n_noise: int) -> None:
        super().__init__(*args)
        self.n_noise = n_noise

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor, *noise: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return self.run(z, labels, [], list(noise))


class _Step(_Chunk):
    def __init__(self, *args: Any, n_state: int) -> None:
        super().__init__(*args)
        self.n_state = n_state

    def forward(self, z: torch.Tensor, labels: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.run(z, labels, list(rest[: self.n_state]), list(rest[self.n_state :]))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _operator(exc: BaseException) -> str | None:
    """The operator named in an exporter error (``aten::polar``), when there is one."""
    match = re.search(r"operator '?([\w:.]+)'?", str(exc))
    return match.group(1) if match else None


@contextlib.contextmanager
def _silenced_output() -> Iterator[None]:
    """Keep the exporter's C++ log off the terminal: on an unsupported operator it prints the whole
    graph (thousands of lines, to the process's stdout) before raising; the error says what failed."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _export_graph(
    module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict
) -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), _silenced_output():
        # Tracer warnings about nn.RNN's own shape checks, and the exporter's notices, are noise
        # here: the graphs are compared with torch below.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            buffer,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _attach_metadata(path: Path, meta: dict[str, Any]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = "audiogan", json.dumps(meta)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def _check_with_onnxruntime(
    path: Path, feeds: dict[str, np.ndarray], want: list[torch.Tensor], what: str
) -> float:
    """Run ``path`` in onnxruntime and compare with torch's outputs; the largest relative difference."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, feeds)
    worst = 0.0
    for a, b in zip(want, got):
        a = a.detach().cpu().numpy()
        if a.shape != b.shape:
            raise ConfigError(f"{what}: onnxruntime gave shape {b.shape}, torch {a.shape}")
        worst = max(worst, float(np.abs(a - b).max()) / max(float(np.abs(a).max()), 1e-6))
    if worst > TOLERANCE:
        raise ConfigError(f"{what}: onnxruntime differs from torch by {worst:.2e} of the peak")
    return worst


def export_onnx(
    synth: Synthesizer, out: str | Path, chunk_frames: int = 32, batch: int = 2
) -> dict[str, Any]:
    """Write the ``start``/``step`` generator graphs (and a vocoder graph when possible) for ``synth``.

    :raises PluginError: the generator cannot be expressed in ONNX (names it and the operator).
    :returns: the metadata written into every file, plus ``files`` and ``checked`` (max relative
        onnxruntime-vs-torch difference, or None without onnxruntime).
    """
    if chunk_frames < 1:
        raise ConfigError(f"chunk_frames={chunk_frames} must be >= 1")
    paths = onnx_paths(out)
    gen, fc = synth.generator.cpu().eval().requires_grad_(False), synth.feature_config
    # (1, 1, M): applied to frames (B, T, M) before the transpose to the vocoder's (B, M, T).
    mean = torch.tensor(fc.mel_mean, dtype=torch.float32).view(1, 1, -1)
    scale = (fc.norm_scale * torch.tensor(fc.mel_std, dtype=torch.float32)).view(1, 1, -1)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(batch, gen.latent_dim, generator=g)
    labels = torch.randint(max(1, synth.num_classes), (batch,), generator=g)
    conditional = gen.num_classes > 0
    who = f"generator {synth.meta.get('name')!r}"

    # A probe chunk tells how many noise tensors the generator draws, their shapes, and the state's.
    with torch.no_grad(), feed_randn() as drawn:
        frames, state = gen(z, labels if conditional else None, chunk_frames, None)
    noise = [t.clone() for t in drawn]
    for t in noise:
        if t.dim() == 0 or t.shape[0] != batch:
            raise PluginError(
                f"{who} draws noise of shape {tuple(t.shape)} without a batch axis: not exportable"
            )
    state_list = _flat(state)
    noise_names = [f"noise_{i}" for i in range(len(noise))]
    state_names = [f"state_{i}" for i in range(len(state_list))]
    state_out = [f"{name}_out" for name in state_names]
    # Recurrent states are (layers, B, H) in torch's RNNs; a second probe with one more sequence
    # shows which axis of each tensor is the batch (layers may equal the batch size).
    with torch.no_grad(), feed_randn():
        bigger = _flat(
            gen(z[:1].expand(batch + 1, -1), labels[:1].expand(batch + 1) if conditional else None, 1, None)[
                1
            ]
        )
    state_batch_axis = []
    for small, big in zip(state_list, bigger):
        axes = [i for i, (a, b) in enumerate(zip(small.shape, big.shape)) if a != b]
        if len(axes) != 1:
            raise PluginError(
                f"{who}: cannot tell the batch axis of a state tensor of shape {tuple(small.shape)}"
            )
        state_batch_axis.append(axes[0])
    dyn: dict[str, dict[int, str]] = {"z": {0: "batch"}, "labels": {0: "batch"}}
    dyn |= {name: {0: "batch"} for name in noise_names}
    dyn |= {"frames": {0: "batch"}, "log_mel": {0: "batch"}}
    for name, out_name, axis in zip(state_names, state_out, state_batch_axis):
        dyn[name] = dyn[out_name] = {axis: "batch"}

    start = _Start(gen, mean, scale, chunk_frames, state, n_noise=len(noise))
    step = _Step(gen, mean, scale, chunk_frames, state, n_state=len(state_list))
    try:
        _export_graph(
            start,
            (z, labels, *noise),
            paths["start"],
            ["z", "labels", *noise_names],
            ["frames", "log_mel", *state_out],
            dyn,
        )
        with torch.no_grad():
            first = start(z, labels, *noise)
            second_noise = [torch.randn(t.shape, generator=g) for t in noise]
            second = step(z, labels, *first[2:], *second_noise)
        _export_graph(
            step,
            (z, labels, *first[2:], *second_noise),
            paths["step"],
            ["z", "labels", *state_names, *noise_names],
            ["frames", "log_mel", *state_out],
            dyn,
        )
    except (ConfigError, PluginError):
        raise
    except Exception as exc:
        for path in paths.values():
            path.unlink(missing_ok=True)
        operator = _operator(exc)
        raise PluginError(
            f"{who} (plugin {synth.meta.get('plugin')!r}) cannot be exported to ONNX: "
            + (f"operator {operator} is not supported" if operator else _one_line(exc))
        ) from exc

    vocoder_file, left_out = _export_vocoder(synth, frames, mean, scale, paths["vocoder"])
    meta = {
        "format": "audiogan-onnx",
        "audiogan_version": __version__,
        "opset": ONNX_OPSET,
        "generator": synth.meta.get("name"),
        "step": synth.meta.get("step"),
        "checkpoint": synth.meta.get("checkpoint"),
        "chunk_frames": int(chunk_frames),
        "latent_dim": int(gen.latent_dim),
        "conditional": conditional,
        "class_names": list(synth.class_names),
        "noise": [list(t.shape[1:]) for t in noise],  # per batch item, standard normal
        "state_tensors": len(state_list),
        "files": {"start": paths["start"].name, "step": paths["step"].name, "vocoder": vocoder_file},
        "vocoder": synth.vocoder_name if vocoder_file else None,
        "vocoder_left_out": left_out,
        "feature_config": {k: v for k, v in fc.to_dict().items() if k not in ("mel_mean", "mel_std")},
    }
    written = [paths["start"], paths["step"]] + ([paths["vocoder"]] if vocoder_file else [])
    for path in written:
        _attach_metadata(path, meta)

    checked = None
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass
    else:
        feeds = {"z": z.numpy(), "labels": labels.numpy()} | {
            n: t.numpy() for n, t in zip(noise_names, noise)
        }
        checked = _check_with_onnxruntime(paths["start"], feeds, list(first), f"{paths['start']} (start)")
        feeds = {"z": z.numpy(), "labels": labels.numpy()}
        feeds |= {n: t.numpy() for n, t in zip(state_names, first[2:])}
        feeds |= {n: t.numpy() for n, t in zip(noise_names, second_noise)}
        checked = max(
            checked, _check_with_onnxruntime(paths["step"], feeds, list(second), f"{paths['step']} (step)")
        )
    synth.generator.to(synth.device)
    return {**meta, "paths": [str(p) for p in written], "checked": checked}


def _export_vocoder(
    synth: Synthesizer, frames: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, path: Path
) -> tuple[str | None, str | None]:
    """Export the vocoder when ONNX can express it: (file name, None) or (None, why it was left out)."""
    vocoder = synth.vocoder.cpu().eval().requires_grad_(False)
    log_mel = (frames * scale + mean).transpose(1, 2).contiguous()
    name = synth.vocoder_name
    try:
        _export_graph(
            vocoder,
            (log_mel,),
            path,
            ["log_mel"],
            ["audio"],
            {"log_mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}},
        )
        with torch.no_grad():
            want = vocoder(log_mel)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass
        else:
            _check_with_onnxruntime(path, {"log_mel": log_mel.numpy()}, [want], f"vocoder {name!r}")
        return path.name, None
    except Exception as exc:
        path.unlink(missing_ok=True)
        operator = _operator(exc)
        why = f"operator {operator} has no ONNX export" if operator else _one_line(exc)
        return (
            None,
            f"vocoder {name!r} left out: {why}; vocode the log_mel output yourself (e.g. Griffin-Lim)",
        )
    finally:
        synth.vocoder.to(synth.device)
