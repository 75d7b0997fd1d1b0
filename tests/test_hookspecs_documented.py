"""Meta-test (after datasette): every hook spec is typed, documented and has a test of its own.

A hook spec passes when its docstring has ``:return:`` and a ``:param name:`` for each argument,
its return type is annotated, ``docs/writing-plugins.md`` mentions it, and some test module in
``tests/`` defines ``test_hook_<hook name>``.
"""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import pluggy

from audiogan import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def hook_specs(module: types.ModuleType, project: str = "audiogan") -> dict[str, object]:
    """Functions of ``module`` marked as pluggy hook specs of ``project``."""
    return {
        name: fn
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if hasattr(fn, f"{project}_spec")
    }


def test_names_in(tests_dir: Path) -> set[str]:
    """Names of all test functions defined in ``tests_dir``."""
    names = set()
    for path in tests_dir.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                names.add(node.name)
    return names


test_names_in.__test__ = False  # a helper, not a test


def problems(module: types.ModuleType, tests_dir: Path, docs: Path) -> list[str]:
    """Every way the hook specs of ``module`` fall short; empty when all is well."""
    found = []
    tests = test_names_in(tests_dir)
    docs_text = docs.read_text() if docs.is_file() else ""
    for name, fn in hook_specs(module).items():
        doc = inspect.getdoc(fn) or ""
        signature = inspect.signature(fn)
        if not doc:
            found.append(f"{name}: no docstring")
        if ":return:" not in doc:
            found.append(f"{name}: docstring lacks :return:")
        for param in signature.parameters:
            if f":param {param}:" not in doc:
                found.append(f"{name}: docstring lacks :param {param}:")
        if signature.return_annotation is inspect.Signature.empty:
            found.append(f"{name}: no return type annotation")
        if name not in docs_text:
            found.append(f"{name}: not mentioned in {docs.name}")
        if f"test_hook_{name}" not in tests:
            found.append(f"{name}: no test named test_hook_{name}")
    return found


def test_every_hookspec_is_documented_and_tested():
    specs = hook_specs(hookspecs)
    assert set(specs) >= {"register_generators", "register_discriminators", "register_vocoders"}
    assert problems(hookspecs, ROOT / "tests", ROOT / "docs" / "writing-plugins.md") == []


def test_meta_test_fails_for_an_undocumented_untested_hook(tmp_path):
    """The checker itself must catch each shortfall, or the meta-test could never fail."""
    spec = pluggy.HookspecMarker("audiogan")
    module = types.ModuleType("fake_hookspecs")

    @spec
    def register_widgets(size):
        """Provide widgets."""

    @spec
    def register_gadgets() -> list:
        """Provide gadgets.

        :return: gadget classes.
        """

    module.register_widgets = register_widgets
    module.register_gadgets = register_gadgets
    (tmp_path / "test_x.py").write_text("def test_hook_register_gadgets():\n    pass\n")
    docs = tmp_path / "guide.md"
    docs.write_text("register_gadgets\n")
    assert problems(module, tmp_path, docs) == [
        "register_widgets: docstring lacks :return:",
        "register_widgets: docstring lacks :param size:",
        "register_widgets: no return type annotation",
        "register_widgets: not mentioned in guide.md",
        "register_widgets: no test named test_hook_register_widgets",
    ]
