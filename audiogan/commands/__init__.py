"""Subcommands of the ``audiogan`` CLI, one module each (discovered by :mod:`audiogan.cli`)."""
