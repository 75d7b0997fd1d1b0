"""Training configuration: the ``[train]`` and ``[data]`` sections and how a run's config is resolved.

A run's configuration is a TOML tree with sections ``train``, ``data``, ``feature`` (a
:class:`~audiogan.config.FeatureConfig` without statistics) and one table per component,
``generator`` / ``discriminator`` / ``vocoder``, each holding ``name`` plus that plugin's own
``Config`` fields. Precedence: command line > TOML file > these defaults. Plugin fields are
validated by the plugin's ``Config`` when the component is built (errors name ``generator.key``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch

from audiogan.config import FeatureConfig, apply_overrides, from_dict, without_stats
from audiogan.data.dataset import DEFAULT_MIN_SECONDS
from audiogan.data.split import SplitSettings
from audiogan.data.whole import MODES
from audiogan.errors import ConfigError
from audiogan.training.objectives import check_loss

SECTIONS = ("train", "data", "feature", "generator", "discriminator", "vocoder")
# train.steps at or above this means no step limit: a time budget (train.max_minutes) ends the run
# (``audiogan demo`` without ``--steps``). Progress is shown in time whenever max_minutes is set.
UNLIMITED_STEPS = 10**9


@dataclasses.dataclass
class LoopConfig:
    """The settings the engine's loop reads (:func:`audiogan.training.loop.run_loop`, ``recover`` and the
    :class:`~audiogan.training.trainer.Trainer`'s optimisers, clipping and EMA), shared by the GAN's
    :class:`TrainConfig` and the vocoder's ``VocoderTrainConfig`` so one loop serves both.

    Defaults are the GAN's; a subclass changes one by redeclaring the field (its TOML key stays the same).
    """

    steps: int = 5000  # total training steps (one D update + one G update each)
    max_minutes: float = 0.0  # also stop (with a checkpoint) after this much wall time; 0 = no limit
    optimizer: Literal["adam", "adamw"] = "adam"  # both use the fused kernels (no sync to skip a step)
    lr_g: float = 2e-4  # TTUR (Heusel et al. 2017): D learns faster than G
    lr_d: float = 5e-4  # (the demo's small models learn fastest at about 5e-4 / 1e-3)
    betas: list[float] = dataclasses.field(default_factory=lambda: [0.5, 0.99])  # Adam betas
    weight_decay: float = 0.0  # AdamW only
    grad_clip: float = 1.0  # max global grad norm per model; 0 turns clipping off
    ema_decay: float = 0.999  # EMA of G's weights, used for samples and generator.pt
    seed: int = 0  # seeds torch, the sampler and the sample latents
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | cuda:N | mps
    threads: int = 0  # CPU threads for torch (0 = torch's default); 1 is far faster on a busy shared CPU
    amp: bool = True  # bf16 autocast on CUDA when supported (ignored elsewhere)
    compile: bool = False  # torch.compile G and D (opt-in: slow start, faster steps on GPU)
    log_every: int = 50  # steps between metrics.jsonl / TensorBoard / progress-bar loss updates
    checkpoint_every: int = 500  # steps between checkpoints (plus one at the end and on Ctrl-C)
    keep_checkpoints: int = 3  # step-XXXXXX.pt files kept (last.pt is always kept)
    sample_every: int = 1000  # steps between sample WAVs/PNGs (plus one at the end); 0 = only at the end
    divergence_patience: int = 20  # non-finite steps in a row before restoring the last good checkpoint
    divergence_lr_factor: float = 0.5  # learning rates are multiplied by this after a restore
    max_restores: int = 5  # give up (error) after this many restores

    def __post_init__(self) -> None:
        for key in ("steps", "log_every", "checkpoint_every", "keep_checkpoints", "divergence_patience"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in ("lr_g", "lr_d"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in ("threads", "max_minutes", "weight_decay", "grad_clip", "sample_every", "max_restores"):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be >= 0")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas={self.betas!r} must be two numbers in [0, 1)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay={self.ema_decay!r} must be in [0, 1)")
        if not 0.0 < self.divergence_lr_factor <= 1.0:
            raise ConfigError(f"train.divergence_lr_factor={self.divergence_lr_factor!r} must be in (0, 1]")
        if self.device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
            raise ConfigError(f"train.device={self.device!r}: expected auto, cpu, cuda, cuda:N or mps")


@dataclasses.dataclass
class TrainConfig(LoopConfig):
    """The GAN loop's settings. Defaults favour stable, visible progress; the CLI can override each.

    The loop's own fields (steps, optimiser, intervals, device, divergence guard) are :class:`LoopConfig`'s.
    """

    batch_size: int = 32  # sequences per batch
    seq_frames: int = 24  # frames per crop (~0.4 s): keeps most FSDD-like one-shots (median ~26 frames)
    loss: str = "hinge"  # hinge | non-saturating | least-squares | wgan-gp
    feature_matching: float = (
        10.0  # weight of G's feature-matching loss (10 beat 1 on the synthetic corpus); 0 = off
    )
    # weight of G's within-class feature-spread loss (objectives.feature_spread_loss): feature matching
    # compares means, which one clip per class satisfies; this compares each class's spread. On FSDD
    # it kept within-class variety at the real clips' where without it variety fell to 0.1x (RESULTS.md,
    # "collapse"); 0 = off
    feature_spread: float = 10.0
    mode_seeking: float = 0.0  # weight of the MSGAN mode-seeking term over same-class pairs; 0 = off
    r1_gamma: float = 0.0  # R1 penalty weight (gamma); 0 turns it off
    gp_weight: float = 10.0  # WGAN-GP penalty weight (loss = "wgan-gp" only)
    sample_frames: int = 64  # frames per sample sequence
    samples_per_class: int = 1  # sample sequences per class (or in total when unlabelled)
    # defaults chosen by device for what the config leaves unset (PROFILES): auto (cpu on a CPU, gpu on
    # CUDA) | cpu | gpu | none (the plugins' own defaults); the resolved name is recorded in config.toml
    profile: str = "auto"
    eval_every: int = (
        1000  # steps between window/frame FD scores of the EMA G (best -> checkpoints/best.pt); 0 = off
    )
    eval_clips: int = 64  # generated sequences per evaluation
    eval_real_clips: int = 256  # real clips the evaluation compares with (the held-out slice, at most)
    # share of each class's clips (whole files, seeded) that training never samples; the evaluation
    # picks best.pt on them (audiogan.data.holdout). 0: judged on training clips, nothing held out
    holdout: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in (
            "batch_size",
            "seq_frames",
            "sample_frames",
            "samples_per_class",
            "eval_clips",
            "eval_real_clips",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be > 0")
        for key in (
            "feature_matching",
            "feature_spread",
            "mode_seeking",
            "r1_gamma",
            "gp_weight",
            "eval_every",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"train.{key}={getattr(self, key)!r} must be >= 0")
        if self.profile not in ("auto", "none", *PROFILES):
            raise ConfigError(
                f"train.profile={self.profile!r}: expected auto, none or one of {', '.join(PROFILES)}"
            )
        if not 0.0 <= self.holdout < 0.5:
            raise ConfigError(f"train.holdout={self.holdout!r} must be in [0, 0.5)")
        check_loss(self.loss)


@dataclasses.dataclass
class DataConfig:
    """How the training folder becomes batches."""

    # How clips become examples (audiogan.data.whole): "whole" trains on every clip's whole sound on a
    # canvas of silence (learned lengths), "crop" on random seq_frames windows, "auto" picks whole
    # for one-shots (99% of trimmed clips <= 4 s). The resolved mode is what config.toml records.
    mode: str = "auto"
    trim_db: float = 40.0  # whole: a clip's sound is its frames within this many dB of its peak
    trim_pad_seconds: float = 0.03  # whole: recording kept before and after each sound
    # whole: the canvas length; None = the 99th percentile of the trimmed lengths (recorded when resolved)
    canvas_seconds: float | None = None
    # False: clips shorter than seq_frames are left out; True: padded with silence, the padding masked
    pad_short: bool = False
    balance: bool = True  # class-balanced sampling
    # skip clips shorter than this: the same rule as `audiogan prepare` and `audiogan evaluate`
    min_seconds: float = DEFAULT_MIN_SECONDS
    cache_dir: str | None = None  # feature cache location; None means DATA_DIR/.audiogan-cache
    workers: int | None = None  # feature extraction processes; None = automatic
    # Cut every file into sound events, each a clip ("onset" or "silence"; see audiogan.data.split);
    # None trains on whole files. The split_* settings are SplitSettings' (same defaults).
    split: str | None = None
    split_db: float = 40.0  # silence threshold, dB below each file's loudest frame
    split_min_seconds: float = 0.05  # shorter events are dropped
    split_max_seconds: float = 10.0  # longer events are cut into pieces
    split_pad_seconds: float = 0.03  # kept before each onset and after each end
    split_gap_seconds: float = 0.0  # sounds closer than this are one event
    split_onset_delta: float = 0.07  # "onset": lower cuts at weaker onsets (more events)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"data.mode={self.mode!r}: expected one of {', '.join(MODES)}")
        if not (math.isfinite(self.trim_db) and self.trim_db > 0):
            raise ConfigError(f"data.trim_db={self.trim_db!r} must be > 0 (dB below each clip's peak)")
        if not (math.isfinite(self.trim_pad_seconds) and self.trim_pad_seconds >= 0):
            raise ConfigError(f"data.trim_pad_seconds={self.trim_pad_seconds!r} must be >= 0")
        if self.canvas_seconds is not None and not (
            math.isfinite(self.canvas_seconds) and self.canvas_seconds > 0
        ):
            raise ConfigError(f"data.canvas_seconds={self.canvas_seconds!r} must be > 0 (or unset)")
        self.split_settings()  # bad split settings fail when the config is read, naming the key

    def split_settings(self) -> SplitSettings | None:
        """The :class:`~audiogan.data.split.SplitSettings` these settings ask for (None: whole files)."""
        if self.split is None:
            return None
        return SplitSettings(
            method=self.split,  # type: ignore[arg-type]
            top_db=self.split_db,
            min_seconds=self.split_min_seconds,
            max_seconds=self.split_max_seconds,
            pad_seconds=self.split_pad_seconds,
            gap_seconds=self.split_gap_seconds,
            onset_delta=self.split_onset_delta,
        )


@dataclasses.dataclass
class RunConfig:
    """Everything a run needs, resolved and validated (plugin configs are checked at build time)."""

    train: TrainConfig
    data: DataConfig
    feature: FeatureConfig
    generator: dict[str, Any]
    discriminator: dict[str, Any]
    vocoder: dict[str, Any]

    def component(self, kind: str) -> tuple[str, dict[str, Any]]:
        """``(name, config dict)`` for ``generator`` / ``discriminator`` / ``vocoder``."""
        table = dict(getattr(self, kind))
        return str(table.pop("name")), table

    def to_tree(self) -> dict[str, Any]:
        """The nested dict written as ``config.toml`` (feature stats left out: they live in checkpoints)."""
        feature = self.feature.settings()
        return {
            "train": dataclasses.asdict(self.train),
            "data": dataclasses.asdict(self.data),
            "feature": feature,
            "generator": dict(self.generator),
            "discriminator": dict(self.discriminator),
            "vocoder": dict(self.vocoder),
        }


DEFAULT_COMPONENTS = {"generator": "lstm", "discriminator": "lstm", "vocoder": "griffinlim"}

# Defaults by device (train.profile), under the config file and the command line: what a run gets
# for settings nobody chose. On a CPU the plugins' LSTM 256x2 defaults train at about a tenth of the
# steps/s of these small GRUs (benchmarks/RESULTS.md, "profiles"), which learn visibly within a
# CPU budget (the demo's and samples/fsdd's measured settings). "gpu" keeps the plugins' defaults.
# A component table applies only where the config names no other plugin for that component.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {
        "train": {"lr_g": 5e-4, "lr_d": 1e-3},
        "generator": {"name": "gru", "hidden_size": 128, "num_layers": 2, "latent_dim": 32, "noise_dim": 8},
        "discriminator": {"name": "gru", "hidden_size": 64, "num_layers": 1},
    },
    "gpu": {},
}


def resolve_config(tree: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Merge ``tree`` (from TOML) with ``--set section.key=value`` overrides and validate.

    Unknown sections and keys are one-line :class:`ConfigError`\\ s naming them.
    """
    tree = copy.deepcopy(dict(tree or {}))
    apply_overrides(tree, list(overrides))
    unknown = sorted(set(tree) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown config section {unknown[0]!r}; known sections: {', '.join(SECTIONS)}")
    for section in SECTIONS:
        if not isinstance(tree.get(section, {}), dict):
            raise ConfigError(f"config section {section!r} must be a table")
    feature = without_stats(tree.get("feature", {}))
    components = {}
    for kind, default in DEFAULT_COMPONENTS.items():
        table = dict(tree.get(kind, {}))
        table.setdefault("name", default)
        if not isinstance(table["name"], str):
            raise ConfigError(f"{kind}.name={table['name']!r}: expected a string")
        components[kind] = table
    return RunConfig(
        train=from_dict(TrainConfig, tree.get("train"), section="train"),
        data=from_dict(DataConfig, tree.get("data"), section="data"),
        feature=from_dict(FeatureConfig, feature, section="feature"),
        **components,
    )


def profile_for(device: torch.device) -> str:
    """The profile ``train.profile = "auto"`` means on ``device``: ``gpu`` on CUDA, else ``cpu``."""
    return "gpu" if device.type == "cuda" else "cpu"


def resolve_with_profile(
    tree: Mapping[str, Any] | None, overrides: Sequence[str], device: torch.device | None = None
) -> RunConfig:
    """:func:`resolve_config` with the device profile's defaults (:data:`PROFILES`) below ``tree``.

    ``train.profile`` (from ``tree`` or ``overrides``) names the profile; ``auto`` picks it by
    ``device`` (default: the one ``train.device`` selects). The result's ``train.profile`` is the
    name used (``none``: no profile), so the run's config.toml records it and a resume needs no
    device to know its settings.
    """
    first = resolve_config(tree, overrides)
    name = first.train.profile
    if name == "auto":
        name = profile_for(device if device is not None else select_device(first.train.device))
    if name == "none":
        return first
    base = copy.deepcopy(dict(tree or {}))
    merged: dict[str, Any] = {}
    for section, defaults in PROFILES[name].items():
        given = dict(base.get(section) or {})
        named = given.get("name") if "name" in given else _override_value(overrides, f"{section}.name")
        if "name" in defaults and named is not None and named != defaults["name"]:
            continue  # another plugin: the profile's settings are for its own choice only
        merged[section] = {**defaults, **given}
    tree_out = {**base, **merged}
    tree_out["train"] = {**dict(tree_out.get("train") or {}), "profile": name}
    return resolve_config(tree_out, [o for o in overrides if not o.strip().startswith("train.profile")])


def _override_value(overrides: Sequence[str], key: str) -> str | None:
    """The value a ``section.key=value`` override sets for ``key`` (the last one wins), if any."""
    value = None
    for item in overrides:
        left, sep, right = item.partition("=")
        if sep and left.strip() == key:
            value = right.strip().strip("'\"")
    return value


def describe_profile(config: RunConfig) -> str:
    """One line on the profile a run's defaults came from, for the start of training."""
    g, d = config.generator, config.discriminator
    models = (
        f"{g.get('name')} {g.get('hidden_size', '?')}x{g.get('num_layers', '?')} generator, "
        f"{d.get('name')} {d.get('hidden_size', '?')}x{d.get('num_layers', '?')} discriminator"
    )
    name = config.train.profile
    if name == "auto":  # a config resolved by the caller (or a run from before profiles)
        return f"as configured (no device profile applied): {models}"
    if name == "none":
        return f"none (plugins' own defaults): {models}"
    other = "gpu" if name == "cpu" else "cpu"
    return f"{name} profile, for this device (train.profile={other} or none for others): {models}"


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit unavailable device is a ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available here (use --device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"train.device={name!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(f"train.device={name!r} but MPS is not available here (use --device cpu)")
    return device
