"""Generation front door: :func:`load` a run into a :class:`~audiogan.generation.synthesizer.Synthesizer`,
plan clips (plain, per label, latent or label interpolation) and write them with a manifest.

``audiogan generate`` is a thin shell over :func:`load`, :func:`plan` and :func:`write_clips`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiogan import __version__
from audiogan.config import FeatureConfig, plain_config
from audiogan.errors import AudioganError, CheckpointError, ConfigError
from audiogan.fileio import atomic_path, write_text_atomic
from audiogan.generation.synthesizer import MAX_GAIN_DB, Clip, ClipRequest, Synthesizer, latent, slerp

if TYPE_CHECKING:
    from audiogan.plugins import Registry

__all__ = [
    "load",
    "load_vocoder",
    "available_checkpoints",
    "describe_generator",
    "resolve_checkpoint",
    "plan",
    "interpolation",
    "label_interpolation",
    "safe_name",
    "write_clips",
    "SEED_RULE",
    "VOCODER_LAYOUT_FIELDS",
]

#: Written into every manifest so a reader can regenerate any single clip.
SEED_RULE = (
    "clip k of a request with --seed S uses seed S+k (per label); its z is the first draw of a CPU "
    "torch.Generator seeded with it, and the generator's per-frame noise comes from torch's RNG seeded "
    "with it, so a clip does not depend on --batch-size or on the other clips; interpolation steps use "
    "the seed of the nearer end"
)
#: FeatureConfig fields that must agree between a generator and a trained vocoder.
VOCODER_LAYOUT_FIELDS = (
    "sample_rate",
    "n_mels",
    "hop_length",
    "n_fft",
    "win_length",
    "f_min",
    "f_max",
    "log_floor",
)


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    return dev


def load_vocoder(
    path: str | Path,
    feature_config: FeatureConfig,
    registry: Registry,
    overrides: dict[str, Any] | None = None,
) -> tuple[torch.nn.Module, str]:
    """Rebuild a trained vocoder from ``vocoder.pt``; its FeatureConfig must match ``feature_config``.

    :raises CheckpointError: missing/unsafe file, or a layout field that differs (naming both values).
    """
    from audiogan.checkpoint import build_component, load_checkpoint

    path = Path(path)
    data = load_checkpoint(path, kind="vocoder")
    try:
        saved = FeatureConfig.from_dict(data["feature_config"])
        record = dict(data["vocoder"])
    except (KeyError, TypeError, AudioganError) as exc:
        raise CheckpointError(f"{path}: malformed vocoder file: {exc}") from None
    for key in VOCODER_LAYOUT_FIELDS:
        mine, theirs = getattr(feature_config, key), getattr(saved, key)
        if mine != theirs:
            raise CheckpointError(
                f"{path}: vocoder was trained with feature.{key}={theirs!r} "
                f"but the generator uses feature.{key}={mine!r}"
            )
    config = dict(record.get("config") or {})
    config.update(overrides or {})
    record["config"] = config
    return build_component(registry, "vocoder", record, saved, 0, path), str(record.get("name"))


_STEP_NAME = re.compile(r"(?:step-)?(\d+)")


def available_checkpoints(run_dir: str | Path) -> list[str]:
    """The names in ``run_dir/checkpoints`` (``best``, ``last``, ``step-XXXXXX``), sorted."""
    folder = Path(run_dir) / "checkpoints"
    try:
        files = sorted(p for p in folder.glob("*.pt") if not p.name.startswith(".") and p.is_file())
    except OSError:
        return []
    return [p.stem for p in files]


def resolve_checkpoint(run_dir: str | Path, choice: str | Path) -> Path:
    """The training checkpoint ``choice`` names: ``last``, ``best``, ``step-012000`` (or ``12000``) in
    ``run_dir/checkpoints``, a path inside ``run_dir``, or any file path.

    :raises CheckpointError: nothing of that name, in one line listing the run's checkpoints.
    """
    run_dir, text = Path(run_dir), str(choice)
    folder = run_dir / "checkpoints"
    stem = text[:-3] if text.endswith(".pt") else text
    candidates = []
    if stem in ("last", "best"):
        candidates.append(folder / f"{stem}.pt")
    step = _STEP_NAME.fullmatch(stem)
    if step:
        candidates.append(folder / f"step-{int(step.group(1)):06d}.pt")
    candidates += [folder / text, run_dir / text, Path(text)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = available_checkpoints(run_dir)
    listed = ", ".join(names) if names else f"none (no {folder})" if not folder.is_dir() else "none"
    raise CheckpointError(f"checkpoint {text!r} not found in {run_dir}; available: {listed}")


def describe_generator(synth: Synthesizer) -> str:
    """Which weights generate, for people: ``generator: checkpoints/best.pt (step 6000, EMA)``."""
    meta = synth.meta
    source = (meta.get("checkpoint") or {}).get("file") or meta.get("generator_file") or "?"
    try:
        shown = str(Path(source).relative_to(Path(str(meta.get("run")))))
    except ValueError:
        shown = str(source)
    step = meta.get("step")
    text = f"generator: {shown} (step {step}, EMA)" if step is not None else f"generator: {shown} (EMA)"
    chosen = meta.get("checkpoint") or {}
    if chosen.get("measured_on"):  # only best.pt records what it was chosen on
        clips = "held-out clips" if chosen["measured_on"] == "held-out" else "training clips"
        fd = chosen.get("window_fd")
        text += f", best window FD {fd:.2f} on {clips}" if isinstance(fd, float) else f", best on {clips}"
    if chosen.get("default"):
        text += "; --checkpoint last for the final one"
    return text


def load(
    path: str | Path,
    device: str | torch.device | None = None,
    vocoder: str | Path | None = None,
    vocoder_config: dict[str, Any] | None = None,
    plugins: Sequence[str] = (),
    headroom_db: float = -1.0,
    max_gain_db: float = MAX_GAIN_DB,
    checkpoint: str | Path | None = None,
) -> Synthesizer:
    """Load a run folder (or its ``generator.pt``) for generation.

    :param checkpoint: generate with the EMA generator of this training checkpoint: ``"last"``,
        ``"best"``, ``"step-012000"``, a path inside the run or any checkpoint file (see
        :func:`resolve_checkpoint`). The generator is rebuilt exactly as ``generator.pt`` is written
        at that step (:func:`audiogan.checkpoint.checkpoint_generator_file`). Default (None): for a run
        folder with ``checkpoints/best.pt``, that best generator (chosen during training on held-out
        clips), else the run's ``generator.pt`` (the final one); ``meta["checkpoint"]`` says which.
    :param device: ``"cpu"``, ``"cuda"``, ...; default: CUDA when available.
    :param vocoder: a vocoder name from the registry, a ``vocoder.pt`` path, or None for the best
        the run has (its trained ``vocoder.pt`` if present, else ``"griffinlim"``).
    :param vocoder_config: ``Config`` fields of the vocoder (``--set vocoder.key=value``).
    :param plugins: extra plugin modules or ``.py`` files (``--plugin``).
    :param headroom_db: peak level clips are normalised to, in dBFS.
    :param max_gain_db: most gain normalisation may apply, in dB (quieter clips stay below the headroom).
    :raises CheckpointError: a run without ``generator.pt`` (naming the file), an unknown or
        unusable checkpoint, or a mismatched vocoder.
    """
    from audiogan.checkpoint import (
        checkpoint_generator_file,
        load_checkpoint,
        load_generator,
        rebuild_generator,
    )
    from audiogan.plugins import get_registry

    path = Path(path)
    chosen_by_default = False
    if path.is_dir() and checkpoint is None and (path / "checkpoints" / "best.pt").is_file():
        # A GAN can peak and then drift: the run's best generator (by the in-training evaluation,
        # on held-out clips when the run kept some) is what a user wants unless they ask for another.
        checkpoint, chosen_by_default = "best", True
    if path.is_dir():
        gen_file, run_dir = path / "generator.pt", path
        if checkpoint is None and not gen_file.is_file():
            hint = (
                " (training has not finished: checkpoints/last.pt exists; choose a checkpoint to use it)"
                if (path / "checkpoints" / "last.pt").is_file()
                else ""
            )
            raise CheckpointError(f"{gen_file}: missing; this run folder has no generator.pt{hint}")
    else:
        if not path.exists():
            raise CheckpointError(f"{path}: no such run folder or generator file")
        gen_file, run_dir = path, path.parent
    dev = _device(device)
    registry = get_registry(tuple(plugins))
    source: dict[str, Any] = {"generator_file": str(gen_file.resolve()), "checkpoint": None}
    if checkpoint is None:
        loaded = load_generator(gen_file, registry=registry, device=dev)
    else:
        gen_file = resolve_checkpoint(run_dir, checkpoint)
        state = load_checkpoint(gen_file)
        payload = checkpoint_generator_file(state, gen_file, registry)
        loaded = rebuild_generator(payload, gen_file, registry=registry, device=dev)
        evaluation = state.get("eval") if isinstance(state.get("eval"), dict) else {}
        source = {
            "generator_file": None,
            "checkpoint": {
                "name": str(checkpoint),
                "file": str(gen_file.resolve()),
                "step": payload["step"],
                "weights": "ema",
                "default": chosen_by_default,
                # best.pt from before held-out slices existed was chosen on training clips
                "measured_on": evaluation.get("measured_on", "training") if evaluation else None,
                "window_fd": evaluation.get("window_fd") if evaluation else None,
            },
        }
        del state
    fc = loaded.feature_config
    if not fc.has_stats:
        raise CheckpointError(f"{gen_file}: FeatureConfig has no normalisation statistics")
    voc_module, voc_name, voc_file = _resolve_vocoder(vocoder, vocoder_config, run_dir, fc, registry)
    meta = dict(loaded.meta)
    meta.update({"run": str(run_dir.resolve()), **source, "vocoder_file": voc_file})
    return Synthesizer(
        loaded.model,
        fc,
        voc_module,
        loaded.class_names,
        dev,
        voc_name,
        meta,
        headroom_db,
        max_gain_db=max_gain_db,
    )


def _resolve_vocoder(
    vocoder: str | Path | None,
    config: dict[str, Any] | None,
    run_dir: Path | None,
    fc: FeatureConfig,
    registry: Registry,
) -> tuple[torch.nn.Module, str, str | None]:
    run_vocoder = run_dir / "vocoder.pt" if run_dir is not None else None
    has_run_vocoder = run_vocoder is not None and run_vocoder.is_file()
    if vocoder is None:
        if has_run_vocoder:
            module, name = load_vocoder(run_vocoder, fc, registry, config)
            return module, name, str(run_vocoder.resolve())
        vocoder = "griffinlim"
    text = str(vocoder)
    if text.endswith(".pt") or Path(text).is_file():
        module, name = load_vocoder(text, fc, registry, config)
        return module, name, str(Path(text).resolve())
    cls = registry.get("vocoder", text)  # unknown names list the available ones
    if has_run_vocoder and _saved_vocoder_name(run_vocoder) == text:
        module, name = load_vocoder(run_vocoder, fc, registry, config)
        return module, name, str(run_vocoder.resolve())
    if getattr(cls, "trainable", False) and not (config or {}).get("checkpoint"):
        where = (
            f"{run_vocoder} is missing or holds another vocoder" if run_vocoder else "no vocoder.pt was given"
        )
        raise CheckpointError(
            f"vocoder {text!r} needs trained weights but {where}; "
            "train one with 'audiogan train-vocoder', pass its vocoder.pt, or use --vocoder griffinlim"
        )
    return registry.build("vocoder", text, config or {}, fc, 0), text, None


def _saved_vocoder_name(path: Path) -> str | None:
    from audiogan.checkpoint import load_checkpoint

    try:
        return str(load_checkpoint(path, kind="vocoder")["vocoder"]["name"])
    except (AudioganError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------- planning


def plan(
    synth: Synthesizer, n: int, labels: Sequence[str] = (), per_label: int | None = None, seed: int = 0
) -> list[ClipRequest]:
    """The clips of one ``audiogan generate`` call: ``n`` per label (or ``per_label`` for every class)."""
    if per_label is not None:
        if not synth.class_names:
            raise ConfigError("--per-label needs a conditional model; this one has no labels")
        labels, n = list(synth.class_names), per_label
    out: list[ClipRequest] = []
    for lab in labels or [None]:
        out.extend(synth.requests(n, lab, seed))
    return out


def interpolation(
    synth: Synthesizer,
    seed_a: int,
    seed_b: int,
    steps: int,
    label: str | None = None,
    truncation: float | None = None,
) -> list[ClipRequest]:
    """``steps`` clips walking from seed A's latent to seed B's (spherical); ends equal the plain seeds."""
    if steps < 2:
        raise ConfigError(f"--steps {steps}: interpolation needs at least 2 steps")
    a = synth.requests(1, label, seed_a)[0]
    dim = synth.generator.latent_dim
    za, zb = latent(seed_a, dim, truncation), latent(seed_b, dim, truncation)
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        info = {"interpolate": [seed_a, seed_b], "t": t, "step": i}
        # Noise seed of the nearer end; the label stays put (seed A's pick when none was given)
        # so the walk is through z alone and each end equals the plain clip of its seed.
        out.append(
            ClipRequest(seed=seed_a if t < 0.5 else seed_b, label=a.label, z=slerp(za, zb, t), info=info)
        )
    return out


def label_interpolation(
    synth: Synthesizer, label_a: str, label_b: str, steps: int, seed: int = 0
) -> list[ClipRequest]:
    """``steps`` clips of one seed whose label embedding moves linearly from class A to class B."""
    if steps < 2:
        raise ConfigError(f"--steps {steps}: interpolation needs at least 2 steps")
    ia, ib = synth.label_index(label_a), synth.label_index(label_b)
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        info = {"label_interpolate": [synth.class_names[ia], synth.class_names[ib]], "t": t, "step": i}
        if t in (0.0, 1.0):  # the ends are the plain classes, bit for bit
            out.append(ClipRequest(seed=seed, label=ia if t == 0.0 else ib, info=info))
            continue
        weights = torch.zeros(synth.num_classes)
        weights[ia] += 1 - t
        weights[ib] += t
        out.append(ClipRequest(seed=seed, label=ia if t < 0.5 else ib, label_weights=weights, info=info))
    return out


# --------------------------------------------------------------------------- writing

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str, limit: int = 60) -> str:
    """A label as a file-name part: letters, digits, ``._+-`` only, no leading dots, never empty."""
    cleaned = _UNSAFE.sub("_", str(text)).strip("._")[:limit]
    return cleaned or "x"


def clip_stem(synth: Synthesizer, clip: Clip, index: int) -> str:
    """Stable file stem telling what the clip is, e.g. ``label-7_seed-123_000``."""
    info = clip.info
    parts = []
    if "label_interpolate" in info:
        a, b = info["label_interpolate"]
        parts.append(f"label-{safe_name(a)}-to-{safe_name(b)}")
    elif clip.label is not None:
        parts.append(f"label-{safe_name(synth.class_names[clip.label])}")
    if "interpolate" in info:
        parts.append(f"seed-{info['interpolate'][0]}-to-{info['interpolate'][1]}")
    else:
        parts.append(f"seed-{clip.seed}")
    parts.append(f"{index:03d}")
    return "_".join(parts)


def write_clips(
    synth: Synthesizer,
    clips: Sequence[Clip],
    out_dir: str | Path,
    format: str = "wav",
    subtype: str = "PCM_16",
    force: bool = False,
    plot: bool = False,
    options: dict[str, Any] | None = None,
) -> Path:
    """Write every clip (atomically) and ``manifest.json``; refuse to overwrite unless ``force``.

    :return: the manifest path.
    """
    from audiogan.data.audio import write_audio

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    root = out.resolve()
    ext = {"wav": "wav", "flac": "flac"}.get(format.lower())
    if ext is None:
        raise ConfigError(f"--format {format!r}: choose wav or flac")
    names = [f"{clip_stem(synth, clip, i)}.{ext}" for i, clip in enumerate(clips)]
    targets = [root / name for name in names]
    for target in targets:  # belt and braces: safe_name already forbids separators and dots
        if target.parent != root:
            raise ConfigError(f"refusing to write {target}: outside --out {root}")
    planned = targets + [root / "manifest.json"] + ([t.with_suffix(".png") for t in targets] if plot else [])
    existing = [p for p in planned if p.exists()]
    if existing and not force:
        raise ConfigError(
            f"{existing[0]} exists ({len(existing)} file(s) would be overwritten); pass --force to overwrite"
        )
    entries = []
    for clip, target in zip(clips, targets):
        write_audio(target, clip.audio, synth.sample_rate, format=ext, subtype=subtype)
        if plot:
            plot_spectrogram(synth, clip.audio, target.with_suffix(".png"), title=target.name)
        entry = {
            "file": target.name,
            "seed": clip.seed,
            "label": synth.class_names[clip.label] if clip.label is not None else None,
            "label_index": clip.label,
            "seconds": round(clip.audio.shape[-1] / synth.sample_rate, 6),
            "samples": int(clip.audio.shape[-1]),
            "peak_dbfs": _finite(clip.peak_dbfs),
            "gain_db": round(clip.gain_db, 3),
            "gain_capped": clip.gain_capped,
            "silent": clip.silent,
        }
        entry.update({k: v for k, v in clip.info.items()})
        entries.append(entry)
    manifest = {
        "format": "audiogan-manifest",
        "format_version": 1,
        "audiogan_version": __version__,
        "run": synth.meta.get("run"),
        "generator_file": synth.meta.get("generator_file"),
        "checkpoint": synth.meta.get("checkpoint"),
        "generator": {k: synth.meta.get(k) for k in ("name", "plugin", "plugin_version", "step")},
        "vocoder": {
            "name": synth.vocoder_name,
            "file": synth.meta.get("vocoder_file"),
            "config": plain_config(getattr(synth.vocoder, "config", None)),
        },
        "sample_rate": synth.sample_rate,
        "format_audio": ext,
        "subtype": subtype,
        "device": str(synth.device),
        "seed_rule": SEED_RULE,
        "options": options or {},
        "files": entries,
    }
    path = root / "manifest.json"
    write_text_atomic(path, json.dumps(manifest, indent=2) + "\n")
    return path


def plot_spectrogram(synth: Synthesizer, audio: np.ndarray, path: Path, title: str = "") -> None:
    """A log-mel spectrogram PNG of ``audio`` (matplotlib, Agg backend), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with torch.no_grad():
        mel = (
            synth.front.log_mel(torch.from_numpy(np.ascontiguousarray(audio)).to(synth.device))[0]
            .cpu()
            .numpy()
        )
    fc = synth.feature_config
    fig, ax = plt.subplots(figsize=(8, 3))
    try:
        seconds = audio.shape[-1] / fc.sample_rate
        image = ax.imshow(
            mel.T, origin="lower", aspect="auto", extent=(0, seconds, 0, fc.n_mels), cmap="magma"
        )
        ax.set_xlabel("seconds")
        ax.set_ylabel("mel bin")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, label="log magnitude")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None
