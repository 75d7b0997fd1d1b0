"""The module map in docs/architecture.md holds: rooms import only from rooms below them.

Rooms, bottom to top: the plugin-facing top-level modules ("core"), ``data``, ``generation``,
``evaluation``, ``training``, ``vocoder``, then ``commands`` and ``cli``. Built-in plugins
(``plugins/``, installed as ``audiogan_plugins``) may use only the public plugin surface. Every
subpackage says in its docstring what it holds, and no file points to a document outside the
repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "audiogan"

#: Rooms from the bottom of the stack to the top; a room may import from itself and rooms before it.
ROOMS = ["core", "data", "generation", "evaluation", "training", "vocoder", "commands"]

#: The documented seams where a lower room reaches up (each one lazy, inside a function).
SEAMS = {
    # ``audiogan.load`` is public API (the other lazy names go through ``audiogan._LAZY``).
    ("audiogan", "audiogan.generation.generate"),
}

#: What a plugin may import from audiogan (the "what a plugin may use" list in docs/writing-plugins.md).
PLUGIN_SURFACE = {
    "audiogan",
    "audiogan.checkpoint",
    "audiogan.components",
    "audiogan.config",
    "audiogan.contracts",
    "audiogan.errors",
    "audiogan.features",
    "audiogan.hookspecs",
    "audiogan.plugins",
    "audiogan.testing",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ROOMS:
        return parts[1]
    if len(parts) > 1 and parts[1] in ("cli", "__main__"):
        return "commands"
    return "core"


def _imports(path: Path) -> list[str]:
    """Every ``audiogan`` module a file imports (``from audiogan import x`` counts as ``audiogan.x``
    when ``x`` is a submodule)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (REPO / Path(*candidate.split("."))).with_suffix(".py").is_file() or (
                    REPO / Path(*candidate.split("."))
                ).is_dir():
                    found.append(candidate)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (the package uses absolute imports)")
    ours = ("audiogan.", "audiogan_plugins")
    return [name for name in found if name == "audiogan" or name.startswith(ours)]


def test_rooms_import_only_downwards() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        mine = ROOMS.index(_room(module))
        for target in _imports(path):
            if target.startswith("audiogan_plugins"):
                wrong.append(f"{module} imports the built-in plugin package ({target})")
            elif ROOMS.index(_room(target)) > mine and (module, target) not in SEAMS:
                wrong.append(f"{module} ({_room(module)}) imports {target} ({_room(target)})")
    assert not wrong, "imports against the module map in docs/architecture.md:\n" + "\n".join(wrong)


@pytest.mark.parametrize("folder", ["plugins", "samples/plugin-elman/audiogan_elman"])
def test_plugins_use_only_the_public_surface(folder: str) -> None:
    wrong = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for target in _imports(path):
            if target.startswith("audiogan_plugins") or target in PLUGIN_SURFACE:
                continue
            wrong.append(f"{path.relative_to(REPO)} imports {target}")
    assert not wrong, "plugins must use only what docs/writing-plugins.md lists:\n" + "\n".join(wrong)


def test_plugin_surface_is_documented() -> None:
    guide = (REPO / "docs" / "writing-plugins.md").read_text(encoding="utf-8")
    section = guide.split("## What a plugin may use", 1)
    assert len(section) == 2, "docs/writing-plugins.md lacks its 'What a plugin may use' section"
    for module in sorted(PLUGIN_SURFACE - {"audiogan"}):
        assert f"`{module}`" in section[1], f"{module} is importable by plugins but not documented"


def test_every_subpackage_says_what_it_holds() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(REPO)} needs a docstring saying what the room holds"


def test_no_file_points_outside_the_repository() -> None:
    # The FSDD recordings are data that tests and benchmarks look for (and skip without); a
    # document, though, must live in the repository.
    pattern = re.compile(r"DESIGN\.md|\.\./shared/(?!data/)|/work/shared/(?!data/)")
    offenders = []
    for path in sorted(REPO.rglob("*")):
        if path.suffix not in (".py", ".md", ".toml", ".txt") or ".git" in path.parts:
            continue
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    assert not offenders, "references to documents outside the repository:\n" + "\n".join(offenders)


def test_architecture_doc_names_every_module() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py") or path.parent.name == "commands":
            continue
        if path.stem not in doc:
            missing.append(str(path.relative_to(REPO)))
    assert not missing, "docs/architecture.md does not mention: " + ", ".join(missing)
