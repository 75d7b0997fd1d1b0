"""The ``audiogan`` command: a thin shell that parses arguments and calls the library.

Each subcommand lives in ``audiogan/commands/<name>.py`` and defines ``HELP`` (one line),
``ORDER`` (position in ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``.
User errors (:class:`~audiogan.errors.AudioganError`) print one line and exit 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from audiogan import __version__, commands
from audiogan.errors import AudioganError


def _command_modules() -> list[tuple[str, ModuleType]]:
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        name = getattr(module, "NAME", info.name.replace("_", "-"))
        found.append((getattr(module, "ORDER", 100), name, module))
    return [(name, module) for _, name, module in sorted(found, key=lambda t: (t[0], t[1]))]


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts (plugins to load, strictness, debugging)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("plugins and debugging")
    group.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="load a plugin from a dotted module name or a .py file (repeatable; "
        "AUDIOGAN_PLUGINS=a,b in the environment does the same)",
    )
    group.add_argument(
        "--strict", action="store_true", help="treat a plugin that fails to import as an error, not a warning"
    )
    group.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    return parent


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        # No usage block: every user error is the same single line (scripts grep for it).
        command = self.prog.split(" ", 1)[1] + " " if " " in self.prog else ""
        self.exit(2, f"audiogan: error: {message} (see 'audiogan {command}--help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every discovered subcommand."""
    parser = _Parser(
        prog="audiogan",
        description="Train a recurrent GAN on a folder of recordings and generate new audio like it.",
        epilog="Run 'audiogan COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"audiogan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parent = common_options()
    for name, module in _command_modules():
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            parents=[parent],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``audiogan`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except AudioganError as exc:
        if args.debug:
            raise
        print(f"audiogan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("audiogan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
