"""The plugin manager: built-ins, entry points, local plugins, allow/deny lists, lookups by name.

Load order (a name registered first wins; later plugins with the same *plugin* name are skipped):

1. Built-ins: the entry points in the group ``audiogan`` of the ``audiogan`` distribution itself
   (``[project.entry-points.audiogan]`` in its ``pyproject.toml``, modules in ``audiogan_plugins``).
   They are found and registered exactly as a third-party plugin is; only their failures differ:
   a built-in that fails to import is a bug in audiogan, so it is always an error.
2. Entry points in the group ``audiogan`` of every other installed distribution. One that fails to
   import is a :class:`PluginWarning` naming the entry point and its distribution, or a
   :class:`~audiogan.errors.PluginError` when strict (``--strict``, ``AUDIOGAN_STRICT=1``).
   ``AUDIOGAN_LOAD_PLUGINS=a,b`` loads only those entry points (empty string: built-ins only).
3. Local plugins: ``AUDIOGAN_PLUGINS=a,b`` then ``--plugin`` values, each a dotted module name or
   a path to a ``.py`` file. A missing one is always an error: the user asked for it by name.

``AUDIOGAN_DISABLE_PLUGINS=a,b`` blocks plugins by name at every stage, built-ins included.

Each hook implementation is then called on its own, so an error names the plugin and the hook.
Component names must be unique within a kind, so the order of implementations never decides
anything: ``tryfirst``/``trylast`` are accepted and have no effect, and hook wrappers (which wrap
the calls of other plugins) are refused with an error naming the plugin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from torch import nn

from audiogan import hookspecs
from audiogan.components import Discriminator, Generator, Vocoder
from audiogan.config import FeatureConfig, from_dict
from audiogan.errors import AudioganError, ConfigError, PluginError

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "ComponentInfo",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "clear_registry_cache",
    "get_registry",
    "load_registry",
    "resolve_registry",
    "plugin_of",
]

ENTRY_POINT_GROUP = "audiogan"

#: The distribution whose entry points are the built-in plugins (this package).
BUILTIN_DISTRIBUTION = "audiogan"

#: kind -> (hook name, required base class)
KINDS: dict[str, tuple[str, type[nn.Module]]] = {
    "generator": ("register_generators", Generator),
    "discriminator": ("register_discriminators", Discriminator),
    "vocoder": ("register_vocoders", Vocoder),
}

_ENV_KEYS = ("AUDIOGAN_PLUGINS", "AUDIOGAN_LOAD_PLUGINS", "AUDIOGAN_DISABLE_PLUGINS", "AUDIOGAN_STRICT")

# class -> name of the plugin that registered it, so contract errors can name the plugin.
_PLUGIN_OF: dict[type, str] = {}


class PluginWarning(UserWarning):
    """A plugin could not be loaded and was skipped (an error under ``--strict``)."""


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its pluggy name, the module, and where it came from."""

    name: str
    module: str
    distribution: str | None  # None for local (--plugin / AUDIOGAN_PLUGINS) plugins
    version: str | None
    builtin: bool
    source: str  # "builtin", "entry point" or "local"


@dataclasses.dataclass(frozen=True)
class ComponentInfo:
    """One registered component class and the plugin that provides it."""

    name: str
    kind: str
    cls: type
    plugin: str
    distribution: str | None
    version: str | None
    description: str
    builtin: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (the class as a dotted path instead of the object)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "description": self.description,
            "builtin": self.builtin,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
        }


def plugin_of(cls_or_obj: Any) -> str:
    """The name of the plugin that registered a component class (or instance); the module otherwise."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    return _PLUGIN_OF.get(cls, cls.__module__)


class Registry:
    """Every component class by kind and name, plus what was loaded and what failed."""

    def __init__(
        self,
        components: dict[str, dict[str, ComponentInfo]],
        plugins: Sequence[PluginInfo],
        failures: Sequence[str] = (),
        manager: pluggy.PluginManager | None = None,
    ) -> None:
        self._components = components
        self.plugins: list[PluginInfo] = list(plugins)
        self.failures: list[str] = list(failures)  # one line per plugin skipped with a warning
        self.manager = manager

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown component kind {kind!r}; expected one of: {', '.join(KINDS)}")

    def names(self, kind: str) -> list[str]:
        """Sorted names of every registered component of ``kind``."""
        self._check_kind(kind)
        return sorted(self._components[kind])

    def info(self, kind: str, name: str) -> ComponentInfo:
        """The :class:`ComponentInfo` for ``name``; unknown names list what is available."""
        self._check_kind(kind)
        try:
            return self._components[kind][name]
        except KeyError:
            available = ", ".join(self.names(kind)) or "(none)"
            raise ConfigError(
                f"unknown {kind} {name!r}; available {kind}s: {available} (see 'audiogan plugins')"
            ) from None

    def get(self, kind: str, name: str) -> type:
        """The class registered as ``name`` in ``kind``."""
        return self.info(kind, name).cls

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """All components (of one kind, or of every kind), ordered by kind then name."""
        kinds = [kind] if kind is not None else list(KINDS)
        for k in kinds:
            self._check_kind(k)
        return [self._components[k][n] for k in kinds for n in sorted(self._components[k])]

    def build(
        self,
        kind: str,
        name: str,
        config: dict[str, Any] | Any | None,
        feature_config: FeatureConfig,
        num_classes: int = 0,
    ) -> nn.Module:
        """Instantiate component ``name`` as ``cls(cls.Config(**config), feature_config, num_classes)``.

        :param config: a plain dict of ``Config`` fields (checked by :func:`~audiogan.config.from_dict`,
            keys named ``<kind>.<field>`` in errors), an instance of ``cls.Config``, or ``None``.
        :raises ConfigError: unknown name, unknown or ill-typed config key.
        :raises PluginError: the plugin's constructor failed; the message names the plugin.
        """
        info = self.info(kind, name)
        cls = info.cls
        if config is None or isinstance(config, dict):
            cfg = from_dict(cls.Config, config or {}, section=kind)
        elif isinstance(config, cls.Config):
            cfg = config
        else:
            raise ConfigError(
                f"{kind} {name!r}: config must be a dict or {cls.__qualname__}.Config, "
                f"got {type(config).__name__}"
            )
        try:
            module = cls(cfg, feature_config, int(num_classes))
        except AudioganError:
            raise
        except Exception as exc:  # any bug inside third-party code: name the plugin, keep one line
            raise PluginError(
                f"plugin {info.plugin!r} failed to build {kind} {name!r}: "
                f"{type(exc).__name__}: {_one_line(exc)}"
            ) from exc
        if not isinstance(module, nn.Module):
            raise PluginError(f"plugin {info.plugin!r}: {kind} {name!r} did not build an nn.Module")
        return module


# --------------------------------------------------------------------------- loading


def _one_line(exc: BaseException, join: bool = False) -> str:
    """The first line of an exception message (all lines joined by '; ' with ``join``)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if join:
        return "; ".join(lines)
    return lines[0] if lines else ""


def _env_list(name: str) -> list[str] | None:
    """Comma-separated names from the environment; None when unset, [] for an empty string."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _env_strict() -> bool:
    return os.environ.get("AUDIOGAN_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


def _load_local(spec: str) -> tuple[str, ModuleType]:
    """Import a ``--plugin`` value: a ``.py`` file path or a dotted module name."""
    looks_like_path = spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec)
    if looks_like_path:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise PluginError(f"plugin file not found: {spec}")
        # A stable, unique module name so dataclass/typing lookups through sys.modules work.
        resolved = path.resolve()
        digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
        mod_name = f"audiogan_local_plugin_{resolved.stem}_{digest}"
        if mod_name in sys.modules:
            return spec, sys.modules[mod_name]
        module_spec = importlib.util.spec_from_file_location(mod_name, resolved)
        if module_spec is None or module_spec.loader is None:
            raise PluginError(f"plugin file {spec}: not a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[mod_name]
            raise PluginError(
                f"plugin file {spec} failed to import: {type(exc).__name__}: {_one_line(exc)}"
            ) from exc
        return spec, module
    try:
        return spec, importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise PluginError(f"plugin module not found: {spec}") from None
        raise PluginError(
            f"plugin module {spec} failed to import: ModuleNotFoundError: {_one_line(exc)}"
        ) from exc
    except Exception as exc:
        raise PluginError(
            f"plugin module {spec} failed to import: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, hint: str = "") -> bool:
    """Register with pluggy, turning validation errors (bad hook signatures) into PluginError."""
    try:
        return pm.register(plugin, name=name) is not None
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} is invalid: {_one_line(exc, join=True)}{hint}") from None
    except ValueError as exc:  # pluggy: same object or name registered twice
        raise PluginError(f"plugin {name!r} cannot be registered: {_one_line(exc)}") from None


def _validate_class(obj: Any, kind: str, plugin: str, hook: str) -> tuple[str, type, str]:
    """Check one returned class against the component contract; return (name, cls, description)."""
    base = KINDS[kind][1]
    where = f"plugin {plugin!r} returned from {hook}"
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"{where} {obj!r}, which is not a subclass of audiogan.{base.__name__}")
    label = obj.__qualname__
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"{where} {label} without a name (set the class attribute name = '...')")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise PluginError(f"{where} {label} ({name!r}), which is abstract: implement {missing}")
    doc = inspect.cleandoc(obj.__dict__.get("__doc__") or "")
    if not doc:
        raise PluginError(
            f"{where} {label} ({name!r}) without a docstring (its first line is the description)"
        )
    config_cls = getattr(obj, "Config", None)
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise PluginError(f"{where} {label} ({name!r}) whose Config is not a dataclass")
    try:
        config_cls()
    except Exception as exc:
        raise PluginError(
            f"{where} {label} ({name!r}) whose Config has fields without defaults: {_one_line(exc)}"
        ) from None
    if kind == "vocoder" and getattr(obj, "trainable", False) and obj.fit is Vocoder.fit:
        raise PluginError(f"{where} {label} ({name!r}), trainable but without a fit() method")
    return name, obj, doc.splitlines()[0].strip()


def _is_builtin(dist_name: str) -> bool:
    return dist_name.lower().replace("_", "-") == BUILTIN_DISTRIBUTION


def _entry_points() -> list[tuple[importlib.metadata.Distribution, importlib.metadata.EntryPoint]]:
    """Every entry point in the group, audiogan's own (the built-ins) first."""
    found = [
        (dist, ep)
        for dist in importlib.metadata.distributions()
        for ep in dist.entry_points
        if ep.group == ENTRY_POINT_GROUP
    ]
    return sorted(found, key=lambda item: not _is_builtin(item[0].metadata["Name"] or ""))


def load_registry(extra: Sequence[str] | None = (), strict: bool | None = None) -> Registry:
    """Build a fresh :class:`Registry` (no cache); see the module docstring for the order."""
    extra = tuple(extra or ())
    strict = _env_strict() if strict is None else bool(strict)
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for name in _env_list("AUDIOGAN_DISABLE_PLUGINS") or []:
        pm.set_blocked(name)

    plugins: dict[str, PluginInfo] = {}
    failures: list[str] = []

    # 1. built-ins, then 2. every other distribution's entry points, one list in that order.
    allow = _env_list("AUDIOGAN_LOAD_PLUGINS")
    failed: set[str] = set()  # a distribution seen twice on sys.path warns once
    builtins_found = False
    for dist, ep in _entry_points():
        dist_name = dist.metadata["Name"] or "?"
        builtin = _is_builtin(dist_name)
        builtins_found = builtins_found or builtin
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name) or ep.name in failed:
            continue
        if allow is not None and ep.name not in allow and not builtin:
            continue
        hint = f" (disable it with AUDIOGAN_DISABLE_PLUGINS={ep.name})"
        try:
            plugin = ep.load()
        except Exception as exc:
            what = "built-in plugin" if builtin else "plugin entry point"
            message = (
                f"{what} {ep.name!r} ({ep.value}) from distribution "
                f"{dist_name} {dist.version} failed to import: {type(exc).__name__}: {_one_line(exc)}"
            )
            if strict or builtin:  # a broken built-in is a bug in audiogan: never only a warning
                raise PluginError(message + hint) from exc
            failed.add(ep.name)
            failures.append(message)
            # Shown as "audiogan:0: PluginWarning: ..." (no irrelevant source line under it).
            warnings.warn_explicit(message + hint, PluginWarning, filename="audiogan", lineno=0)
            continue
        if pm.is_registered(plugin):
            continue  # one module behind two entry point names: its classes register once
        if _register(pm, plugin, ep.name, hint):
            module = getattr(plugin, "__name__", ep.value)
            source = "builtin" if builtin else "entry point"
            plugins[ep.name] = PluginInfo(ep.name, module, dist_name, dist.version, builtin, source)
    if not builtins_found:
        raise PluginError(
            f"audiogan's built-in plugins are not installed (no entry points in group {ENTRY_POINT_GROUP!r} "
            f"from distribution {BUILTIN_DISTRIBUTION!r}): install the package, e.g. pip install -e ."
        )

    # 3. local plugins asked for by name: AUDIOGAN_PLUGINS, then --plugin.
    for spec in [*(_env_list("AUDIOGAN_PLUGINS") or []), *extra]:
        if pm.is_blocked(spec):
            continue
        name, module = _load_local(spec)
        if pm.is_registered(module) or pm.get_plugin(name) is not None:
            continue  # the same plugin asked for twice (env and --plugin): load once
        if _register(pm, module, name):
            plugins[name] = PluginInfo(name, module.__name__, None, None, False, "local")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        known = sorted(name for name, _ in inspect.getmembers(hookspecs) if name.startswith("register_"))
        unknown = [
            name
            for name in dir(exc.plugin)
            if hasattr(getattr(exc.plugin, name, None), f"{ENTRY_POINT_GROUP}_impl") and name not in known
        ]
        raise PluginError(
            f"plugin {plugin_name!r} implements an unknown hook {', '.join(unknown) or '?'}; "
            f"the hooks are: {', '.join(known)}"
        ) from None

    return Registry(_collect(pm, plugins), list(plugins.values()), failures, pm)


def _collect(pm: pluggy.PluginManager, plugins: dict[str, PluginInfo]) -> dict[str, dict[str, ComponentInfo]]:
    """Call every hook implementation on its own and validate what it returns."""
    components: dict[str, dict[str, ComponentInfo]] = {kind: {} for kind in KINDS}
    for kind, (hook_name, _base) in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order
            plugin = impl.plugin_name
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                raise PluginError(
                    f"plugin {plugin!r}: {hook_name} is a hook wrapper; audiogan collects each plugin's "
                    "classes on its own, so wrappers are not supported (return a list of classes)"
                )
            try:
                result = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin!r} failed in {hook_name}: {type(exc).__name__}: {_one_line(exc)}"
                ) from exc
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                raise PluginError(
                    f"plugin {plugin!r}: {hook_name} must return a list of classes, "
                    f"got {type(result).__name__}"
                )
            pinfo = plugins.get(plugin) or PluginInfo(plugin, "?", None, None, False, "local")
            for obj in result:
                name, cls, description = _validate_class(obj, kind, plugin, hook_name)
                previous = components[kind].get(name)
                if previous is not None:
                    if previous.cls is cls:
                        continue
                    raise PluginError(
                        f"two {kind}s named {name!r}: one from plugin {previous.plugin!r} "
                        f"({previous.cls.__module__}.{previous.cls.__qualname__}), "
                        f"one from plugin {plugin!r} "
                        f"({cls.__module__}.{cls.__qualname__})"
                    )
                _PLUGIN_OF[cls] = plugin
                components[kind][name] = ComponentInfo(
                    name, kind, cls, plugin, pinfo.distribution, pinfo.version, description, pinfo.builtin
                )
    return components


_CACHE: dict[tuple, Registry] = {}
_CACHE_SIZE = 8


def get_registry(extra: Sequence[str] | None = (), strict: bool | None = None) -> Registry:
    """The registry for these local plugins and this environment, loaded once and then cached.

    :param extra: ``--plugin`` values (dotted module names or ``.py`` paths).
    :param strict: entry points that fail to import raise instead of warning; ``None`` reads
        ``AUDIOGAN_STRICT``.
    """
    extra = tuple(extra or ())  # None is accepted as "no --plugin values"
    strict = _env_strict() if strict is None else bool(strict)
    key = (extra, strict, tuple(os.environ.get(k) for k in _ENV_KEYS), tuple(sys.path))
    registry = _CACHE.get(key)
    if registry is None:
        registry = load_registry(extra, strict)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = registry
    return registry


def resolve_registry(registry: Registry | None = None, plugins: Sequence[str] = ()) -> Registry:
    """``registry`` itself, or (when None) the cached registry for these ``--plugin`` values."""
    return registry if registry is not None else get_registry(tuple(plugins))


def clear_registry_cache() -> None:
    """Forget cached registries (after installing a plugin in the same process, or in tests)."""
    _CACHE.clear()
