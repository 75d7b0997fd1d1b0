"""audiogan: train a recurrent GAN on a folder of recordings and synthesise new audio like it.

Public API: the component bases, the plugin marker, configuration and errors.
"""

from __future__ import annotations

from .components import Discriminator, Generator, Vocoder
from .config import FeatureConfig
from .errors import AudioganError, CheckpointError, ConfigError, DataError, PluginError
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AudioganError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Discriminator",
    "FeatureConfig",
    "Generator",
    "PluginError",
    "Vocoder",
    "__version__",
    "hookimpl",
]
