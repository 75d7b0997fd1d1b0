"""audiogan: train a recurrent GAN on a folder of recordings and synthesise new audio like it.

Public API: the component bases, the plugin marker, configuration and errors.
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


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """Lazy public names: ``audiogan.Synthesizer``."""
    if name == "Synthesizer":
        from audiogan.generation.synthesizer import Synthesizer

        return Synthesizer
    raise AttributeError(f"module 'audiogan' has no attribute {name!r}")


__all__ = [
    "AudioganError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Discriminator",
    "FeatureConfig",
    "Generator",
    "PluginError",
    "Synthesizer",
    "Vocoder",
    "__version__",
    "hookimpl",
    "load",
]
