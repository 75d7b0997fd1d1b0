"""Ruff (lint rules and formatting, settings in pyproject.toml) passes over the whole tree.

Run inside ``python -m pytest`` so the README's test command (and so CI) catches style drift.
Fix with ``ruff check --fix . && ruff format .``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install -e '.[dev]')"
)


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_ruff_check() -> None:
    result = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_format() -> None:
    result = _ruff("format", "--no-cache", "--check", ".")
    assert result.returncode == 0, f"files ruff format would change:\n{result.stdout}{result.stderr}"
