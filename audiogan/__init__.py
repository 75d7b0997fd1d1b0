"""audiogan: train a recurrent GAN on a folder of recordings and synthesise new audio like it.

Public API: the component bases, the plugin marker, configuration and errors, ``load`` and
``Synthesizer`` for generation, and the utilities a plugin may use (``MelFrontEnd``,
``load_checkpoint``, ``fit_vocoder``; listed in docs/writing-plugins.md). Names that need the
heavier modules are imported on first use, so ``import audiogan`` stays light.
"""

from __future__ import annotations

from audiogan.components import Discriminator, Generator, Vocoder
from audiogan.config import FeatureConfig
from audiogan.errors import AudioganError, CheckpointError, ConfigError, DataError, PluginError
from audiogan.hookspecs import hookimpl

__version__ = "0.1.0"


def load(path, **kwargs):  # type: ignore[no-untyped-def]
    """Load a run folder or ``generator.pt`` for generation; see :func:`audiogan.generation.generate.load`."""
    from audiogan.generation.generate import load as _load  # imported here so ``import audiogan`` stays light

    return _load(path, **kwargs)


#: Public names imported on first use: name -> (module, attribute).
_LAZY = {
    "Synthesizer": ("audiogan.generation.synthesizer", "Synthesizer"),
    "MelFrontEnd": ("audiogan.features", "MelFrontEnd"),
    "load_checkpoint": ("audiogan.checkpoint", "load_checkpoint"),
    "fit_vocoder": ("audiogan.vocoder.training", "fit"),
}


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """The lazy public names in ``_LAZY`` (``audiogan.Synthesizer``, ``audiogan.fit_vocoder`` ...)."""
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'audiogan' has no attribute {name!r}")


__all__ = [
    "AudioganError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Discriminator",
    "FeatureConfig",
    "Generator",
    "MelFrontEnd",
    "PluginError",
    "Synthesizer",
    "Vocoder",
    "__version__",
    "fit_vocoder",
    "hookimpl",
    "load",
    "load_checkpoint",
]
