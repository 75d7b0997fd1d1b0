"""Honest progress: a time budget shows time (not a billion steps), a step budget shows steps, status
lines without a bar; ``audiogan train`` says what it found at the start and how to see the run at
the end. No timings are asserted: only what the bar and the lines say."""

from __future__ import annotations

import json

from badfiles import TINY_SR, tiny_config

from audiogan.cli import main
from audiogan.config import to_toml
from audiogan.training.config import UNLIMITED_STEPS
from audiogan.training.loop import train


def corpus_at(root):
    from audiogan.data.synthetic import write_corpus

    return write_corpus(root / "corpus", per_class=2, seconds=0.4, sample_rate=TINY_SR)


def test_a_time_budget_shows_elapsed_time_against_the_budget(tmp_path, capsys) -> None:
    config = tiny_config(UNLIMITED_STEPS, max_minutes=0.02, log_every=5, checkpoint_every=10**6)
    result = train(corpus_at(tmp_path), tmp_path / "run", config, progress=True)
    err = capsys.readouterr().err
    assert result.step > 0 and not result.interrupted
    assert "of 00:01 [" in err  # elapsed of the 1.2 s budget
    assert f"step {result.step}, " in err and "steps/s" in err
    assert str(UNLIMITED_STEPS) not in err and "/1000000000" not in err


def test_a_step_budget_with_a_time_limit_shows_both(tmp_path, capsys) -> None:
    config = tiny_config(3, max_minutes=30.0)
    result = train(corpus_at(tmp_path), tmp_path / "run", config, progress=True)
    err = capsys.readouterr().err
    assert result.step == 3 and "of 30:00 [" in err and "step 3/3, " in err


def test_a_step_budget_shows_steps(tmp_path, capsys) -> None:
    train(corpus_at(tmp_path), tmp_path / "run", tiny_config(3), progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "step/s" in err and " of " not in err


def test_status_lines_without_a_bar(tmp_path, capsys) -> None:
    config = tiny_config(UNLIMITED_STEPS, max_minutes=0.01, log_every=1, checkpoint_every=10**6)
    train(corpus_at(tmp_path), tmp_path / "run", config, progress=False)
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("step ")]
    assert lines and all(" of 00:00  loss_d " in line and "steps/s" in line for line in lines)
    assert "/1000000000" not in captured.out and "%|" not in captured.err
    train(corpus_at(tmp_path), tmp_path / "run2", tiny_config(2), progress=False)
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()] == ["1/2", "2/2"]


def test_train_says_what_it_found_and_how_to_see_the_run(tmp_path, capsys) -> None:
    corpus = corpus_at(tmp_path)
    (corpus / "drums" / "empty.wav").write_bytes(b"")
    (corpus / "drums" / "notes.wav").write_text("not audio")
    (tmp_path / "tiny.toml").write_text(to_toml(tiny_config(2)))
    run = tmp_path / "run"
    code = main(
        ["train", str(corpus), "--run", str(run), "--config", str(tmp_path / "tiny.toml"), "--no-progress"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert f"data folder: {corpus}" in lines
    assert "files used:  6 (2.4 s of audio, 306 frames)" in lines
    assert "classes:     3: chirp (2), drums (2), pluck (2)" in lines
    assert "skipped:     2 files" in lines
    assert any(line.startswith("  zero bytes (1): drums/empty.wav") for line in lines)
    assert "device:      cpu, 1 thread" in lines and "budget:      2 steps" in lines
    first_status = next(i for i, line in enumerate(lines) if line.startswith("step 1/2 "))
    assert lines.index("budget:      2 steps") < first_status  # said before training starts
    assert lines[-1] == f"see and hear it: audiogan report {run} --data {corpus}"
    data = json.loads((run / "data.json").read_text())
    assert data["format"] == "audiogan-data-summary" and data["files"] == 6 and data["skipped_files"] == 2
    assert data["skipped"]["zero bytes"] == {"count": 1, "examples": ["drums/empty.wav"]}
    assert data["classes"]["pluck"]["files"] == 2 and abs(data["seconds"] - 2.4) < 1e-6
    # resuming says where it starts and rewrites data.json
    code = main(["train", str(corpus), "--run", str(run), "--resume", "--steps", "3", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and f"run folder:  {run} (resuming at step 2)" in out
    assert json.loads((run / "data.json").read_text())["step"] == 2
