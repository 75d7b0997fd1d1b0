"""Shared fixtures: every test writes its own audio into tmp_path; nothing touches the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Plugin import failures are errors in the test suite (a plugin that silently vanished would
# otherwise let tests pass against the wrong set of components).
os.environ.setdefault("AUDIOGAN_STRICT", "1")
# Tests use tiny models: one intra-op thread is as fast on an idle machine and far faster on a
# busy one (oversubscribed thread pools made tiny ops ~100x slower here). The environment
# variable reaches the CLI subprocesses the tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[2] / "shared"
FSDD = SHARED / "data" / "fsdd" / "recordings"


@pytest.fixture
def synthetic_corpus(tmp_path: Path) -> Path:
    """A 3-class corpus of short 16 kHz WAVs (pluck / chirp / drums), 4 clips each, 0.5 s."""
    from audiogan.data.synthetic import write_corpus

    return write_corpus(tmp_path / "corpus", per_class=4, seconds=0.5, sample_rate=16000)


@pytest.fixture
def fsdd() -> Path:
    """The shared Free Spoken Digit Dataset; skips when ../shared is absent."""
    if not FSDD.is_dir():
        pytest.skip(f"FSDD not found at {FSDD} (needs ../shared/data/fsdd)")
    return FSDD
