"""``audiogan plugins``: list every generator, discriminator and vocoder, and who provides it."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list installed generators, discriminators and vocoders with the plugin providing each"
ORDER = 80
DESCRIPTION = """\
List the components every command can use by name: generators, discriminators and vocoders,
each with the plugin and distribution that provides it, its version and a one-line description.

Without --all, the built-in components are summarised on one line. --json prints a JSON list of
every component (built-ins included), one object each with name, kind, plugin, distribution,
version, description, builtin and class.

Plugins come from the entry-point group "audiogan" of installed packages, --plugin MODULE_OR_FILE
and AUDIOGAN_PLUGINS=a,b. AUDIOGAN_LOAD_PLUGINS=a,b loads only those entry points (empty: built-ins
only); AUDIOGAN_DISABLE_PLUGINS=a,b skips plugins by name.

examples:
  audiogan plugins
  audiogan plugins --all
  audiogan plugins --json --plugin ./my_generator.py
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan plugins``."""
    parser.add_argument("--all", action="store_true", help="list built-in components row by row too")
    parser.add_argument("--json", action="store_true", help="print a JSON list of every component")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load the registry (honouring --plugin/--strict) and print the listing."""
    from audiogan import __version__
    from audiogan.plugins import KINDS, get_registry

    registry = get_registry(args.plugin, strict=True if args.strict else None)
    components = registry.components()
    if args.json:
        json.dump([c.to_dict() for c in components], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0

    shown = components if args.all else [c for c in components if not c.builtin]
    if not args.all:
        builtin = []
        for kind in KINDS:
            names = [c.name for c in components if c.builtin and c.kind == kind]
            if names:
                builtin.append(f"{kind}s {', '.join(names)}")
        print(f"built-in (audiogan {__version__}): {'; '.join(builtin) or 'none'}  (--all lists them)")
    if shown:
        rows = [["NAME", "KIND", "PLUGIN", "DISTRIBUTION", "VERSION", "DESCRIPTION"]]
        for c in shown:
            rows.append(
                [c.name, c.kind, c.plugin, c.distribution or "(local)", c.version or "-", c.description]
            )
        if not args.all:
            print()
        print(_table(rows))
    elif not args.all:
        print("no third-party plugins installed (see docs/writing-plugins.md)")
    for failure in registry.failures:
        print(f"skipped: {failure}")
    return 0
