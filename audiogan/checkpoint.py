"""Checkpoints: atomic save, safe load (``weights_only=True``), and the inference generator file.

Every file holds tensors and plain containers only (dict, list, tuple, str, int, float, bool,
None) with a ``"format"`` tag: ``audiogan-checkpoint`` (full training state), ``audiogan-generator``
(``generator.pt``: EMA weights, configs, class names) and ``audiogan-vocoder``. Any training
checkpoint can be turned into the ``generator.pt`` of its step (:func:`checkpoint_generator_file`).
A file that needs pickle code to load is refused, never executed.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import pickle
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiogan import __version__
from audiogan.config import FRAME_LIMIT, FeatureConfig
from audiogan.errors import AudioganError, CheckpointError
from audiogan.fileio import atomic_write
from audiogan.plugins import Registry, resolve_registry

FORMAT_VERSION = 1
KINDS = ("checkpoint", "generator", "vocoder")
_PLAIN = (str, int, float, bool, type(None))


def _check_plain(obj: Any, where: str) -> None:
    # Refuse at save time what weights_only loading would refuse later: fail loudly, early.
    if isinstance(obj, torch.Tensor) or isinstance(obj, _PLAIN):
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint key {where}[{key!r}] must be str or int")
            _check_plain(value, f"{where}[{key!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            _check_plain(value, f"{where}[{index}]")
        return
    raise TypeError(
        f"checkpoint value {where} has type {type(obj).__name__}; only tensors and plain containers"
    )


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> Path:
    """Write ``obj`` (tensors and plain containers only) to ``path`` atomically; return the path."""
    _check_plain(obj, "checkpoint")
    path = Path(path)
    _remove_stale_temporaries(path)
    try:
        with atomic_write(path, "wb") as handle:
            torch.save(obj, handle)
    except OSError as exc:  # disk full, quota, permissions: the previous file is untouched
        raise CheckpointError(
            f"{path}: cannot write: {exc.strerror or exc}; the previous file is kept"
        ) from None
    except RuntimeError as exc:
        # torch.save's zip writer turns a failed write (a real full disk) into "[enforce fail at
        # inline_container.cc] unexpected pos", with the OSError only in the exception chain.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError):
            raise CheckpointError(
                f"{path}: cannot write: {cause.strerror or cause}; the previous file is kept"
            ) from None
        if "write" not in str(exc).lower():
            raise
        raise CheckpointError(
            f"{path}: cannot write: {str(exc).splitlines()[0][:160]}; the previous file is kept"
        ) from None
    return path


# Temporary files older than this process belong to a writer that was killed (SIGKILL, power
# loss) mid-write; each is as large as a checkpoint, so a run killed often would fill the disk.
_PROCESS_START = time.time()


def _remove_stale_temporaries(path: Path) -> None:
    """Remove atomic_path temporaries (``.<name><suffix>.*<suffix>``) of files like ``path`` in its
    folder (e.g. a ``step-000024.pt`` write killed before the run moved on) left by dead writers."""
    suffix = glob.escape(path.suffix)
    try:
        candidates = list(path.parent.glob(f".*{suffix}.*{suffix}"))
    except OSError:
        return
    for tmp in candidates:
        try:
            if tmp.stat().st_mtime < _PROCESS_START:
                tmp.unlink()
        except OSError:
            pass


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Load an audiogan file safely onto the CPU.

    :param kind: ``"checkpoint"``, ``"generator"`` or ``"vocoder"`` to insist on that format.
    :raises CheckpointError: missing, truncated, not an audiogan file, needing pickle code, or the
        wrong kind; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise CheckpointError(
                f"{path}: refused: the file needs pickle code to load (tampered or not an audiogan file)"
            ) from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({first[:160]})") from None
    if not isinstance(obj, dict) or not str(obj.get("format", "")).startswith("audiogan-"):
        raise CheckpointError(f"{path}: not an audiogan checkpoint (no 'format' tag)")
    if kind is not None and obj["format"] != f"audiogan-{kind}":
        raise CheckpointError(f"{path}: expected an audiogan-{kind} file, found {obj['format']}")
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {version!r} is newer than this audiogan understands")
    return obj


def component_record(registry: Registry, kind: str, name: str, module: nn.Module) -> dict[str, Any]:
    """The plain-dict description of a built component: name, providing plugin, version, config, weights."""
    info = registry.info(kind, name)
    config = module.config
    return {
        "name": name,
        "plugin": str(info.plugin),
        "plugin_version": str(info.version or ""),
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
    }


def generator_file(
    registry: Registry,
    name: str,
    module: nn.Module,
    feature_config: FeatureConfig,
    class_names: list[str],
    step: int,
    sound: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``generator.pt`` payload (see the run-folder contract). ``sound`` is :func:`sound_record`
    of a whole-sound run (how its clips end); crop-mode runs have none."""
    extra = {"sound": dict(sound)} if sound else {}
    return {
        **extra,
        "format": "audiogan-generator",
        "format_version": FORMAT_VERSION,
        "audiogan_version": __version__,
        "generator": component_record(registry, "generator", name, module),
        "feature_config": feature_config.to_dict(),
        "class_names": list(class_names),
        "step": int(step),
    }


def checkpoint_generator_file(
    state: Mapping[str, Any], path: str | Path, registry: Registry | None = None
) -> dict[str, Any]:
    """The ``generator.pt`` payload of a training checkpoint's EMA generator: what :func:`generator_file`
    writes at that step (the generator rebuilt from the checkpoint's config, FeatureConfig and class
    names, with its ``ema`` weights).

    :raises CheckpointError: ``state`` is not a training checkpoint, or lacks what the payload needs;
        the message names ``path``.
    """
    path = Path(path)
    found = state.get("format")
    if found != "audiogan-checkpoint":
        raise CheckpointError(f"{path}: not a training checkpoint (audiogan-checkpoint) but {found}")
    registry = resolve_registry(registry)
    try:
        feature_config = FeatureConfig.from_dict(state["feature_config"])
        class_names = [str(c) for c in state["class_names"]]
        config = dict(state["config"]["generator"])
        name = str(config.pop("name", None) or state["components"]["generator"]["name"])
        step = int(state["step"])
        record = {"name": name, "config": config, "state_dict": state["ema"]}
        sound = sound_record(state["config"].get("data") or {}, feature_config)
    except (KeyError, TypeError, ValueError, AudioganError) as exc:
        raise CheckpointError(f"{path}: malformed training checkpoint: {exc}") from None
    module = build_component(registry, "generator", record, feature_config, len(class_names), path)
    return generator_file(registry, name, module, feature_config, class_names, step, sound)


def sound_record(data: Mapping[str, Any], feature_config: FeatureConfig) -> dict[str, Any] | None:
    """What generation needs from a whole-sound run's resolved ``[data]`` settings: the canvas in
    frames, the trim threshold, the frames kept after a sound and the frames' bound
    (:func:`audiogan.data.whole.bound_frames`); None for a crop-mode run."""
    if data.get("mode") != "whole" or data.get("canvas_seconds") is None:
        return None
    frame = feature_config.hop_length / feature_config.sample_rate
    return {
        "mode": "whole",
        # the canvas was recorded as frames x frame seconds: undo that without float creep
        "canvas_frames": max(1, math.ceil(float(data["canvas_seconds"]) / frame - 1e-6)),
        "trim_db": float(data.get("trim_db", 40.0)),
        "pad_frames": max(0, round(float(data.get("trim_pad_seconds", 0.0)) / frame)),
        "frame_limit": FRAME_LIMIT,  # generated frames are bounded as the real ones were
    }


@dataclasses.dataclass
class LoadedGenerator:
    """A generator rebuilt from ``generator.pt``, in eval mode, with what generation needs."""

    model: nn.Module
    feature_config: FeatureConfig
    class_names: list[str]
    meta: dict[str, Any]


def build_component(
    registry: Registry,
    kind: str,
    record: Mapping[str, Any],
    feature_config: FeatureConfig,
    num_classes: int,
    path: Path,
) -> nn.Module:
    """Rebuild a component from its record and load its weights; mismatches are CheckpointErrors."""
    try:
        module = registry.build(kind, record["name"], record["config"], feature_config, num_classes)
    except KeyError as exc:
        raise CheckpointError(f"{path}: {kind} record lacks {exc}") from None
    except AudioganError as exc:
        raise CheckpointError(f"{path}: cannot rebuild {kind} {record.get('name')!r}: {exc}") from None
    try:
        module.load_state_dict(record["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: {kind} weights do not match {record['name']!r}: {first[:200]}"
        ) from None
    return module


def load_generator(
    path: str | Path, registry: Registry | None = None, device: str | torch.device = "cpu"
) -> LoadedGenerator:
    """Load ``generator.pt`` (or a run folder holding one) into an eval-mode model on ``device``."""
    path = Path(path)
    if path.is_dir():
        path = path / "generator.pt"
    return rebuild_generator(load_checkpoint(path, kind="generator"), path, registry, device)


def rebuild_generator(
    data: Mapping[str, Any],
    path: str | Path,
    registry: Registry | None = None,
    device: str | torch.device = "cpu",
) -> LoadedGenerator:
    """An eval-mode generator on ``device`` from a ``generator.pt`` payload (``path`` names it in errors)."""
    path = Path(path)
    registry = resolve_registry(registry)
    try:
        feature_config = FeatureConfig.from_dict(data["feature_config"])
        class_names = [str(c) for c in data["class_names"]]
        record = data["generator"]
    except (KeyError, TypeError, AudioganError) as exc:
        raise CheckpointError(f"{path}: malformed generator file: {exc}") from None
    model = build_component(registry, "generator", record, feature_config, len(class_names), path)
    model.to(device).eval()
    meta = {k: v for k, v in data.items() if k not in ("generator", "feature_config", "class_names")}
    meta.update({k: record.get(k) for k in ("name", "plugin", "plugin_version", "config")})
    return LoadedGenerator(model=model, feature_config=feature_config, class_names=class_names, meta=meta)
