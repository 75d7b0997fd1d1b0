"""The hooks a plugin implements. Each returns a list of component classes.

A plugin is any module or object with functions decorated by :data:`audiogan.hookimpl` whose
names match these specs. Built-in plugins in ``audiogan_plugins`` use exactly the same hooks.
"""

from __future__ import annotations

import pluggy

from audiogan.components import Discriminator, Generator, Vocoder

hookspec = pluggy.HookspecMarker("audiogan")
hookimpl = pluggy.HookimplMarker("audiogan")


@hookspec
def register_generators() -> list[type[Generator]]:
    """Provide generator classes.

    :return: subclasses of :class:`audiogan.Generator`, each with a unique ``name``.
    """


@hookspec
def register_discriminators() -> list[type[Discriminator]]:
    """Provide discriminator classes.

    :return: subclasses of :class:`audiogan.Discriminator`, each with a unique ``name``.
    """


@hookspec
def register_vocoders() -> list[type[Vocoder]]:
    """Provide vocoder classes.

    :return: subclasses of :class:`audiogan.Vocoder`, each with a unique ``name``.
    """
