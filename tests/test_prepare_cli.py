"""``audiogan prepare`` through the real entry point: summary, exit codes, one-line errors; FSDD."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiogan.cli import main


def test_prepare_prints_summary_and_refreshes(synthetic_corpus, capsys):
    (synthetic_corpus / "drums" / "broken.wav").write_text("not audio")
    (synthetic_corpus / "loose.wav").write_bytes(b"")
    argv = [
        str(synthetic_corpus),
        "--n-mels",
        "16",
        "--n-fft",
        "256",
        "--hop-length",
        "128",
        "--workers",
        "1",
        "--quiet",
    ]
    assert main(["prepare", *argv]) == 0
    out = capsys.readouterr().out
    assert "files used:  12" in out
    assert "classes:     3: chirp (4), drums (4), pluck (4)" in out
    assert "skipped:     2 files" in out
    assert "not an audio file (1): drums/broken.wav" in out
    assert "(no label) (1): loose.wav" in out
    assert "decoded 13" in out and ("MiB" in out or "KiB" in out)
    assert main(["prepare", *argv]) == 0
    assert "cache was up to date" in capsys.readouterr().out  # the second run is a cache hit


def test_prepare_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audiogan: error: data folder not found") and err.count("\n") == 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.wav").write_bytes(b"")
    assert main(["prepare", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no usable audio in" in err and "1 zero bytes" in err and err.count("\n") == 1
    assert main(["prepare", str(tmp_path), "--set", "feature.n_mels=0"]) == 2
    assert "feature.n_mels" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path), "--set", "train.lr=1"]) == 2
    assert "only takes feature." in capsys.readouterr().err


def test_prepare_help_and_progress_on_stderr(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["prepare", "--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    for option in (
        "--cache-dir",
        "--sample-rate",
        "--n-mels",
        "--hop-length",
        "--n-fft",
        "--workers",
        "--min-seconds",
        "--set",
        "class subfolders",
    ):
        assert option in help_text
    t = np.arange(4000) / 8000
    (tmp_path / "d").mkdir()
    sf.write(tmp_path / "d" / "a.wav", (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 8000)
    argv = [
        "prepare",
        str(tmp_path / "d"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--n-mels",
        "16",
        "--n-fft",
        "256",
    ]
    assert main([*argv, "--hop-length", "128"]) == 0
    out, err = capsys.readouterr()
    assert "files used:  1" in out and "unlabelled" in out
    assert "decoding" in err and "decoding" not in out  # the progress bar goes to stderr


def test_prepare_fsdd(fsdd, tmp_path, capsys):
    """The real corpus: 3000 recordings in 10 digit folders (default features, 2 workers)."""
    assert (
        main(["prepare", str(fsdd), "--cache-dir", str(tmp_path / "cache"), "--workers", "2", "--quiet"]) == 0
    )
    out = capsys.readouterr().out
    assert "files used:  3000" in out
    assert "classes:     10: 0 (300), 1 (300)" in out and "9 (300)" in out
    assert "skipped:     none" in out
    assert "decoded 3000" in out
