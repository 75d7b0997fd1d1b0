"""User-facing errors: each carries one line that names the file, option or plugin at fault.

The CLI prints ``audiogan: error: <message>`` for these and exits with status 2; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class AudioganError(Exception):
    """Base of every error the user can fix; ``str(err)`` is a single line."""


class ConfigError(AudioganError):
    """A bad option, config key or value; the message names the key."""


class DataError(AudioganError):
    """An unusable data folder, audio file or feature cache; the message names the path."""


class PluginError(AudioganError):
    """A plugin failed to load, register, build or honour its contract; the message names it."""


class CheckpointError(AudioganError):
    """A checkpoint, generator or vocoder file is missing, truncated, tampered with or mismatched."""
