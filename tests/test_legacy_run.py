"""A run folder written by an older audiogan (tests/fixtures/legacy-run) still loads and sounds the same.

The fixture was made by ``tests/fixtures/make_legacy_run.py`` at commit a9c2608, before the
package was split into subpackages. Its ``generator.pt``, ``vocoder.pt`` and training checkpoint
must load with today's code, and ``audiogan generate`` must write the same 16-bit samples it
wrote then: bit for bit on a CPU whose float kernels match the fixture maker's, and within a few
16-bit steps elsewhere (an AMD EPYC host rounds differently: at most 5 steps, in 1-20% of samples).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import audiogan
from audiogan.checkpoint import load_checkpoint
from audiogan.cli import main

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "legacy-run"
# The same commands the fixture maker ran (kept in one place, imported from it).
from fixtures.make_legacy_run import GENERATE  # noqa: E402

# 16-bit steps a sample may differ by, from float rounding alone (-72 dB of full scale).
LSB_TOLERANCE = 8


@pytest.fixture
def legacy_run(tmp_path: Path) -> Path:
    """A writable copy of the committed legacy run folder."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "legacy-run", ignore=shutil.ignore_patterns("expected")))


@pytest.mark.parametrize("vocoder", sorted(GENERATE))
def test_generate_is_bit_identical(legacy_run: Path, tmp_path: Path, vocoder: str) -> None:
    out = tmp_path / f"out-{vocoder}"
    # The fixture's audio predates the fade at the end of clips: --fade-out 0 asks for its ending.
    assert main(["generate", str(legacy_run), *GENERATE[vocoder], "--fade-out", "0", "--out", str(out)]) == 0
    expected = sorted((FIXTURE / "expected" / vocoder).glob("*.wav"))
    assert [p.name for p in expected] == sorted(p.name for p in out.glob("*.wav"))
    for want in expected:
        old, sr_old = sf.read(want, dtype="int16")
        new, sr_new = sf.read(out / want.name, dtype="int16")
        assert sr_new == sr_old
        # Float rounding differs between CPUs' kernels (seen: 5 steps of 32767 at most); a change in
        # what the code computes (a gain, a normalisation, a phase start) moves samples by far more.
        steps = int(np.abs(new.astype(np.int32) - old.astype(np.int32)).max())
        assert steps <= LSB_TOLERANCE, (
            f"{vocoder}/{want.name}: {steps} 16-bit steps from the old code's audio"
        )


def test_python_api_loads_legacy_files(legacy_run: Path) -> None:
    synth = audiogan.load(legacy_run)
    assert synth.class_names == ["chirp", "drums", "pluck"]
    clips = synth.generate(2, 0.2, labels="pluck", seed=0)
    assert len(clips) == 2 and all(np.isfinite(c).all() and c.size > 0 for c in clips)
    state = load_checkpoint(legacy_run / "checkpoints" / "last.pt")
    assert state["step"] == 20


def test_training_resumes_from_legacy_checkpoint(legacy_run: Path, tmp_path: Path) -> None:
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    corpus = write_corpus(tmp_path / "corpus", per_class=3, seconds=0.4, sample_rate=8000)
    result = train(corpus, legacy_run, overrides=["train.steps=22"], resume=True, progress=False)
    assert result.step == 22
