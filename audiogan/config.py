"""Plain configuration dataclasses, TOML loading and ``--set key=value`` overrides.

Every setting lives in a dataclass next to a comment on its default; validation happens in
``__post_init__`` so a bad value fails where it is made, with a one-line :class:`ConfigError`
naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from audiogan.errors import ConfigError

T = TypeVar("T")


#: The frequency scales of FeatureConfig.scale.
SCALES = ("mel", "linear")
#: FeatureConfig fields measured from the training data rather than set by a user.
STAT_FIELDS = ("mel_mean", "mel_std")
#: Whole-sound runs clamp normalised frames (real and generated) into +-this; the built-in
#: generators reach +-1.25, so a generator makes exact silence by going below the floor.
FRAME_LIMIT = 1.2


def without_stats(feature: Mapping[str, Any]) -> dict[str, Any]:
    """A ``[feature]`` table without the measured statistics (they live in checkpoints, not in TOML)."""
    return {k: v for k, v in feature.items() if k not in STAT_FIELDS}


@dataclasses.dataclass
class FeatureConfig:
    """How audio becomes features: log-mel layout plus the per-bin normalisation statistics.

    Travels inside every checkpoint so generation never needs the training data. The engine's
    layout is ``(batch, frames, n_mels)`` normalised as ``(log_mel - mel_mean) / (norm_scale *
    mel_std)``, which puts nearly all values in [-1, 1]; vocoders get ``(batch, n_mels, frames)``
    natural-log magnitude mel, ``log(max(mel, log_floor))``.
    """

    sample_rate: int = 16000  # Hz; every file is resampled to this
    n_fft: int = 1024  # STFT size in samples
    hop_length: int = 256  # samples between frames (16 ms at 16 kHz)
    win_length: int | None = None  # analysis window; None means n_fft
    n_mels: int = 80  # mel bins per frame (scale "linear": set to the STFT bins in f_min..f_max)
    f_min: float = 0.0  # lowest mel filter edge, Hz
    f_max: float | None = None  # highest mel filter edge, Hz; None means sample_rate / 2
    # "mel": an HTK mel filterbank of n_mels bands; "linear": the STFT magnitude bins themselves
    # (no filterbank, so a vocoder gets the exact magnitude back: benchmarks/RESULTS.md, "scale").
    scale: str = "mel"
    log_floor: float = 1e-5  # magnitudes are clamped here before the log (-11.5 in log space)
    norm_scale: float = 3.0  # normalised = (x - mean) / (norm_scale * std): 3 std -> +-1
    mel_mean: list[float] | None = None  # per-bin mean of log-mel over the training data
    mel_std: list[float] | None = None  # per-bin std of log-mel over the training data

    def __post_init__(self) -> None:
        _require(self.sample_rate > 0, "feature.sample_rate", self.sample_rate, "must be > 0")
        _require(self.n_fft > 0, "feature.n_fft", self.n_fft, "must be > 0")
        _require(
            0 < self.hop_length <= self.n_fft, "feature.hop_length", self.hop_length, "must be in (0, n_fft]"
        )
        if self.win_length is not None:
            _require(
                0 < self.win_length <= self.n_fft,
                "feature.win_length",
                self.win_length,
                "must be in (0, n_fft]",
            )
        _require(self.n_mels > 0, "feature.n_mels", self.n_mels, "must be > 0")
        nyquist = self.sample_rate / 2
        _require(0 <= self.f_min < nyquist, "feature.f_min", self.f_min, f"must be in [0, {nyquist:g})")
        if self.f_max is not None:
            _require(
                self.f_min < self.f_max <= nyquist,
                "feature.f_max",
                self.f_max,
                f"must be in (f_min, {nyquist:g}]",
            )
        _require(self.scale in SCALES, "feature.scale", self.scale, f"must be one of {', '.join(SCALES)}")
        if self.scale == "linear":
            first, stop = self.linear_bins
            _require(stop > first, "feature.f_min", self.f_min, "leaves no STFT bin below f_max")
            self.n_mels = stop - first
        _require(self.log_floor > 0, "feature.log_floor", self.log_floor, "must be > 0")
        _require(self.norm_scale > 0, "feature.norm_scale", self.norm_scale, "must be > 0")
        for key in ("mel_mean", "mel_std"):
            value = getattr(self, key)
            if value is not None:
                value = [float(v) for v in value]
                setattr(self, key, value)
                _require(
                    len(value) == self.n_mels,
                    f"feature.{key}",
                    f"{len(value)} values",
                    f"needs n_mels={self.n_mels}",
                )
        if self.mel_std is not None:
            _require(min(self.mel_std) > 0, "feature.mel_std", min(self.mel_std), "must be > 0 in every bin")

    @property
    def win(self) -> int:
        """The analysis window length actually used."""
        return self.win_length or self.n_fft

    @property
    def linear_bins(self) -> tuple[int, int]:
        """``(first, stop)``: the STFT bins whose centre lies in ``[f_min, f_max]`` (scale "linear")."""
        f_max = self.f_max if self.f_max is not None else self.sample_rate / 2
        bin_hz = self.sample_rate / self.n_fft
        first = math.ceil(self.f_min / bin_hz - 1e-9)
        stop = min(self.n_fft // 2, math.floor(f_max / bin_hz + 1e-9)) + 1
        return first, stop

    @property
    def has_stats(self) -> bool:
        """Whether normalisation statistics are present."""
        return self.mel_mean is not None and self.mel_std is not None

    def settings(self) -> dict[str, Any]:
        """The fields a user sets (``config.toml``'s ``[feature]``): all but the measured statistics."""
        return without_stats(self.to_dict())

    def layout(self) -> dict[str, Any]:
        """Everything that shapes the raw log-mel the cache stores (``norm_scale`` acts only later).

        ``scale`` appears only when it is not "mel", so caches made before it existed keep their key.
        """
        return {
            k: v
            for k, v in self.settings().items()
            if k != "norm_scale" and not (k == "scale" and v == "mel")
        }

    def layout_key(self) -> str:
        """A short hash of :meth:`layout`: the feature cache's folder name."""
        return hashlib.sha256(json.dumps(self.layout(), sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureConfig:
        """Build from a plain dict, rejecting unknown keys."""
        return from_dict(cls, data, section="feature")


def _require(ok: bool, key: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} {why}")


# --------------------------------------------------------------------------- generic helpers


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None


def parse_value(text: str) -> Any:
    """Parse the right side of ``--set key=value`` as a TOML value, falling back to a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(tree: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to a nested dict (in place, also returned)."""
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        parts = key.split(".")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = parse_value(raw.strip())
    return tree


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """Coerce ``value`` to ``annotation`` where lossless (int -> float); raise ConfigError otherwise."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(value, option, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"{key}: bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r}: expected a list")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        return [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(repr, choices))}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: expected a number")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r}: expected an integer")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r}: expected true or false")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: expected a string")
        return value
    if annotation is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r}: expected a table")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, section: str = "") -> T:
    """Build dataclass ``cls`` from ``data``: unknown keys and wrong types are one-line errors.

    ``section`` prefixes key names in messages (``train.lr_g``) so users see the key they wrote.
    """
    data = dict(data or {})
    prefix = f"{section}." if section else ""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(f"unknown key {prefix}{unknown[0]}; known keys: {known}")
    values = {name: _check_type(value, hints[name], prefix + name) for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{section or cls.__name__}: {exc}") from None


def plain_config(config: Any) -> dict[str, Any] | None:
    """A component's ``Config`` as plain JSON-safe values (manifests, config.toml); None without one."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    if isinstance(config, Mapping):
        return dict(config)
    return None


def to_toml(tree: Mapping[str, Any]) -> str:
    """Serialise a nested dict of plain values (str, numbers, bools, lists, tables) as TOML.

    ``None`` values are written as comments since TOML has no null.
    """
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value) if not isinstance(value, float) or value == value else "nan"
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        raise ConfigError(f"cannot write {value!r} to TOML")

    def table(node: Mapping[str, Any], path: list[str]) -> None:
        simple = {k: v for k, v in node.items() if not isinstance(v, Mapping)}
        nested = {k: v for k, v in node.items() if isinstance(v, Mapping)}
        if path:
            lines.append(f"\n[{'.'.join(path)}]")
        for key, value in simple.items():
            lines.append(f"# {key} = (unset)" if value is None else f"{key} = {scalar(value)}")
        for key, value in nested.items():
            table(value, path + [key])

    table(tree, [])
    return "\n".join(lines).lstrip("\n") + "\n"
