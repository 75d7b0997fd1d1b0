"""Whole-sound mode learns: a tiny GAN's clips move toward the held-out corpus in length and shape.

The check is ``benchmarks/whole_learning.py`` (two classes of different lengths, trained in
``data.mode=whole``, scored against a corpus written with another seed). At 1,200 steps, seeds
0/1/2 reach 0.09-0.42x the untrained length error and 0.25-0.37x its window FD; a sabotaged D
(real and fake swapped) 1.00x / 3.2x, shuffled labels 1.41x / 1.73x (benchmarks/RESULTS.md,
"whole sounds"). The thresholds sit between the two, so a run that does not learn fails. (At 800
steps seed 2 reached only 0.75x / 0.71x: fewer steps would make this a coin toss.)
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.whole_learning import check

STEPS = 1200


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ratios(result: dict) -> tuple[float, float]:
    trained, untrained = result["trained"], result["untrained"]
    return (
        trained["length_error"] / untrained["length_error"],
        trained["window_fd"] / untrained["window_fd"],
    )


def test_whole_sound_training_learns_lengths_and_shapes(tmp_path):
    result = check(tmp_path, steps=STEPS, seed=0)
    length_ratio, fd_ratio = _ratios(result)
    assert length_ratio < 0.5, f"learned lengths no closer to the real ones: {result}"
    assert fd_ratio < 0.7, f"clips' windows no closer to the real ones: {result}"
    # each class keeps its own length: the generated long sound outlasts the generated short one
    made = result["trained"]["seconds"]
    assert made["long"] > 1.5 * made["short"], result


@pytest.mark.parametrize("sabotage", ["swap", "shuffle"])
def test_whole_learning_check_fails_when_training_is_sabotaged(tmp_path, sabotage):
    """Real and fake swapped in D's loss, or labels shuffled: the same thresholds must not pass."""
    result = check(tmp_path, steps=STEPS, seed=0, sabotage=sabotage)
    length_ratio, fd_ratio = _ratios(result)
    assert length_ratio >= 0.5 or fd_ratio >= 0.7, result
