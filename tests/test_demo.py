"""``audiogan demo`` end to end with a tiny budget: corpus, run folder, WAVs and PNGs per class."""

from __future__ import annotations

import json

import soundfile as sf

from audiogan.cli import main

SMALL = [
    "--set",
    "generator.hidden_size=16",
    "--set",
    "generator.num_layers=1",
    "--set",
    "discriminator.hidden_size=8",
    "--set",
    "train.batch_size=4",
    "--set",
    "vocoder.n_iter=2",
]


def test_demo_writes_corpus_run_and_samples_per_class(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--steps",
            "3",
            "--per-class",
            "1",
            "--clips",
            "2",
            "--device",
            "cpu",
            "--no-progress",
            *SMALL,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert str(out / "samples") in printed and str(out / "run") in printed
    assert sorted(p.name for p in (out / "data").iterdir() if not p.name.startswith(".")) == [
        "chirp",
        "drums",
        "pluck",
    ]
    assert (out / "run" / "generator.pt").is_file() and (out / "run" / "checkpoints" / "last.pt").is_file()
    wavs = sorted((out / "samples").glob("*.wav"))
    assert len(wavs) == 3 and len(list((out / "samples").glob("*.png"))) == 3
    manifest = json.loads((out / "samples" / "manifest.json").read_text())
    assert sorted(entry["label"] for entry in manifest["files"]) == ["chirp", "drums", "pluck"]
    audio, rate = sf.read(wavs[0])
    assert rate == 16000 and abs(len(audio) - rate) <= 256 and abs(audio).max() > 0
    # the run's report page, whose path is the last line printed
    assert printed.strip().splitlines()[-1] == str((out / "report.html").resolve())
    assert all(
        f'data-class="{name}"' in (out / "report.html").read_text() for name in ("chirp", "drums", "pluck")
    )
    # a second demo into the same folder refuses to overwrite the run
    assert main(["demo", "--out", str(out), "--steps", "1", "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_demo_progress_shows_minutes_not_a_billion_steps(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--minutes", "0.02", "--per-class", "1", "--clips", "2", *SMALL])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert (
        "budget:      0.02 minutes" in captured.out
        and "classes:     3: chirp (2), drums (2), pluck (2)" in captured.out
    )
    assert "of 00:01 [step " in captured.err  # elapsed time against the 1.2 s budget
    assert "1000000000" not in captured.err + captured.out


def test_demo_rejects_bad_budgets(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--minutes", "0"]) == 2
    assert "--minutes" in capsys.readouterr().err
