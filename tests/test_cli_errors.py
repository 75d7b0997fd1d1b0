"""Every command's options with wrong types, out-of-range values, unknown keys and missing files:
exit code 2, one line on stderr starting ``audiogan: error:`` naming what is wrong, no traceback
(unless ``--debug``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from badfiles import train_tiny_run

from audiogan.cli import main


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Paths the bad command lines refer to: a corpus, a finished tiny run, odd files."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli")
    corpus, run = train_tiny_run(root)
    (root / "bad.toml").write_text("[train\nsteps = = 3\n")
    (root / "unknown.toml").write_text("[bogus]\nx = 1\n")
    (root / "wrongtype.toml").write_text('[train]\nsteps = "many"\n')
    (root / "notadir.txt").write_text("x")
    (root / "empty-run").mkdir()
    (root / "broken.py").write_text("raise RuntimeError('plugin import fails')\n")
    wav = next(corpus.rglob("*.wav"))
    return {"D": str(corpus), "R": str(run), "T": str(root), "W": str(wav), "G": str(run / "generator.pt")}


# (argv with {D} data, {R} run, {T} tmp, {W} a wav, {G} generator.pt; substring the error must contain)
CASES = [
    # top level
    (["bogus-command"], "invalid choice"),
    (["train", "{D}", "--run", "{O}/r", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    # train
    (["train"], "required"),
    (["train", "{D}"], "--run"),
    (["train", "{D}", "--run", "{O}/r", "--steps", "x"], "--steps: invalid int value: 'x'"),
    (["train", "{D}", "--run", "{O}/r", "--steps", "0"], "train.steps=0"),
    (["train", "{D}", "--run", "{O}/r", "--steps", "-5"], "train.steps=-5"),
    (["train", "{D}", "--run", "{O}/r", "--batch-size", "0"], "train.batch_size"),
    (["train", "{D}", "--run", "{O}/r", "--seq-frames", "0"], "train.seq_frames"),
    (["train", "{D}", "--run", "{O}/r", "--batch-size", "2.5"], "--batch-size: invalid int"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.lr_g=abc"], "train.lr_g"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.lr_g=-1"], "train.lr_g"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.lr_g=nan"], "train.lr_g"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.steps=1.5"], "train.steps"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.steps=true"], "train.steps"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.bogus=1"], "train.bogus"),
    (["train", "{D}", "--run", "{O}/r", "--set", "bogus.x=1"], "bogus"),
    (["train", "{D}", "--run", "{O}/r", "--set", "noequals"], "noequals"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.steps.x=1"], "train.steps"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.betas=[2, 3]"], "train.betas"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.ema_decay=1.5"], "train.ema_decay"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.loss=nope"], "nope"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.optimizer=sgd"], "train.optimizer"),
    (["train", "{D}", "--run", "{O}/r", "--set", "train.device=tpu"], "train.device"),
    (["train", "{D}", "--run", "{O}/r", "--device", "cuda:7"], "cuda"),
    (["train", "{D}", "--run", "{O}/r", "--set", "feature.n_mels=0"], "feature.n_mels"),
    (["train", "{D}", "--run", "{O}/r", "--set", "feature.sample_rate=0"], "feature.sample_rate"),
    (["train", "{D}", "--run", "{O}/r", "--set", "feature.hop_length=99999"], "feature.hop_length"),
    (["train", "{D}", "--run", "{O}/r", "--set", "feature.f_max=1e9"], "feature.f_max"),
    (["train", "{D}", "--run", "{O}/r", "--generator", "nope"], "nope"),
    (["train", "{D}", "--run", "{O}/r", "--discriminator", "nope"], "nope"),
    (["train", "{D}", "--run", "{O}/r", "--set", "generator.hidden_size=big"], "generator.hidden_size"),
    (["train", "{D}", "--run", "{O}/r", "--set", "generator.bogus=1"], "generator.bogus"),
    (["train", "{D}", "--run", "{O}/r", "--set", "generator.name=3"], "generator.name"),
    (["train", "{D}", "--run", "{O}/r", "--config", "{T}/missing.toml"], "missing.toml"),
    (["train", "{D}", "--run", "{O}/r", "--config", "{T}/bad.toml"], "bad.toml"),
    (["train", "{D}", "--run", "{O}/r", "--config", "{T}/unknown.toml"], "bogus"),
    (["train", "{D}", "--run", "{O}/r", "--config", "{T}/wrongtype.toml"], "train.steps"),
    (["train", "{T}/no-such-data", "--run", "{O}/r"], "no-such-data"),
    (["train", "{T}/notadir.txt", "--run", "{O}/r"], "notadir.txt"),
    (["train", "{D}", "--run", "{O}/fresh", "--resume"], "fresh"),
    (["train", "{D}", "--run", "{O}/r", "--plugin", "no_such_plugin_module"], "no_such_plugin_module"),
    (["train", "{D}", "--run", "{O}/r", "--plugin", "{T}/missing_plugin.py"], "missing_plugin.py"),
    (["train", "{D}", "--run", "{O}/r", "--plugin", "{T}/broken.py"], "broken"),
    # prepare
    (["prepare"], "required"),
    (["prepare", "{T}/no-such-data"], "no-such-data"),
    (["prepare", "{D}", "--n-mels", "0"], "feature.n_mels"),
    (["prepare", "{D}", "--n-mels", "many"], "--n-mels: invalid int"),
    (["prepare", "{D}", "--sample-rate", "-1"], "feature.sample_rate"),
    (["prepare", "{D}", "--hop-length", "0"], "feature.hop_length"),
    (["prepare", "{D}", "--n-fft", "0"], "feature.n_fft"),
    (["prepare", "{D}", "--min-seconds", "-1"], "--min-seconds"),
    (["prepare", "{D}", "--min-seconds", "x"], "--min-seconds: invalid float"),
    (["prepare", "{D}", "--workers", "0"], "workers"),
    (["prepare", "{D}", "--set", "feature.bogus=1"], "feature.bogus"),
    (["prepare", "{D}", "--set", "train.steps=1"], "train"),
    # generate
    (["generate", "{R}"], "--out"),
    (["generate", "{T}/no-run", "--out", "{O}"], "no-run"),
    (["generate", "{T}/empty-run", "--out", "{O}"], "generator.pt"),
    (["generate", "{R}", "--out", "{O}", "--n", "0"], "--n"),
    (["generate", "{R}", "--out", "{O}", "--n", "x"], "--n: invalid int"),
    (["generate", "{R}", "--out", "{O}", "--seconds", "-1"], "seconds="),
    (["generate", "{R}", "--out", "{O}", "--seconds", "0"], "seconds="),
    (["generate", "{R}", "--out", "{O}", "--seconds", "nan"], "seconds="),
    (["generate", "{R}", "--out", "{O}", "--seconds", "inf"], "seconds="),
    (["generate", "{R}", "--out", "{O}", "--label", "nope"], "nope"),
    (["generate", "{R}", "--out", "{O}", "--per-label", "0"], "--per-label"),
    (["generate", "{R}", "--out", "{O}", "--batch-size", "0"], "--batch-size"),
    (["generate", "{R}", "--out", "{O}", "--truncation", "-1"], "truncation="),
    (["generate", "{R}", "--out", "{O}", "--truncation", "0"], "truncation="),
    (["generate", "{R}", "--out", "{O}", "--vocoder", "nope"], "nope"),
    (["generate", "{R}", "--out", "{O}", "--vocoder", "{T}/missing.pt"], "missing.pt"),
    (["generate", "{R}", "--out", "{O}", "--set", "vocoder.n_iter=x"], "vocoder.n_iter"),
    (["generate", "{R}", "--out", "{O}", "--set", "vocoder.bogus=1"], "vocoder.bogus"),
    (["generate", "{R}", "--out", "{O}", "--set", "vocoder.n_iter=-1"], "vocoder.n_iter"),
    (["generate", "{R}", "--out", "{O}", "--set", "vocoder.momentum=5"], "vocoder.momentum"),
    (["generate", "{R}", "--out", "{O}", "--set", "train.steps=1"], "train"),
    (["generate", "{R}", "--out", "{O}", "--device", "cuda:9"], "cuda"),
    (["generate", "{R}", "--out", "{O}", "--device", "bogus"], "bogus"),
    (["generate", "{R}", "--out", "{O}", "--format", "mp3"], "invalid choice"),
    (["generate", "{R}", "--out", "{O}", "--headroom", "x"], "--headroom: invalid float"),
    (["generate", "{R}", "--out", "{O}", "--headroom", "6"], "--headroom"),
    (["generate", "{R}", "--out", "{O}", "--headroom", "nan"], "--headroom"),
    (["generate", "{R}", "--out", "{O}", "--max-gain", "x"], "--max-gain: invalid float value: 'x'"),
    (["generate", "{R}", "--out", "{O}", "--max-gain", "-1"], "--max-gain -1.0: must be"),
    (["generate", "{R}", "--out", "{O}", "--max-gain", "-0.5"], "--max-gain -0.5: must be"),
    (["generate", "{R}", "--out", "{O}", "--max-gain", "nan"], "--max-gain nan: must be"),
    (["generate", "{R}", "--out", "{O}", "--max-gain", "inf"], "--max-gain inf: must be"),
    (["generate", "{R}", "--out", "{O}", "--interpolate", "1"], "--interpolate"),
    (["generate", "{R}", "--out", "{O}", "--interpolate", "0,1", "--steps", "1"], "--steps"),
    (["generate", "{R}", "--out", "{T}/notadir.txt"], "notadir.txt"),
    (["generate", "{R}", "--out", "{O}", "--format", "flac", "--subtype", "FLOAT"], "FLOAT"),
    # resynth
    (["resynth", "{T}/missing.wav", "--out", "{O}"], "missing.wav"),
    (["resynth", "{T}/notadir.txt", "--out", "{O}"], "notadir.txt"),
    (["resynth", "{W}", "--out", "{O}", "--run", "{T}/no-run"], "no-run"),
    (["resynth", "{W}", "--out", "{O}", "--vocoder", "nope"], "nope"),
    (["resynth", "{W}", "--out", "{O}", "--set", "vocoder.bogus=1"], "bogus"),
    (["resynth", "{W}", "--out", "{O}", "--set", "feature.n_mels=0"], "feature.n_mels"),
    # evaluate
    (["evaluate", "{R}"], "--data"),
    (["evaluate", "{R}", "--data", "{T}/no-such-data"], "no-such-data"),
    (["evaluate", "{T}/no-run", "--data", "{D}"], "no-run"),
    (["evaluate", "{R}", "--data", "{D}", "--window", "0"], "--window"),
    (["evaluate", "{R}", "--data", "{D}", "--pca-dim", "0"], "--pca-dim"),
    (["evaluate", "{R}", "--data", "{D}", "--ndb-bins", "0"], "--ndb-bins"),
    (["evaluate", "{R}", "--data", "{D}", "--n", "0"], "--n"),
    (["evaluate", "{R}", "--data", "{D}", "--n", "x"], "--n: invalid int"),
    (["evaluate", "--data", "{D}", "--generated", "{T}/no-gen"], "no-gen"),
    (["evaluate", "{R}", "--data", "{D}", "--level", "loud"], "invalid choice"),
    # export
    (["export", "{T}/no-run", "--out", "{O}/x.pt"], "no-run"),
    (["export", "{R}", "--out", "{O}/x.pt", "--chunk-frames", "0"], "--chunk-frames"),
    (["export", "{R}", "--out", "{T}/notadir.txt"], "notadir.txt"),
    (["export", "{R}", "--out", "{O}/x.pt", "--format", "tflite"], "invalid choice"),
    # train-vocoder
    (["train-vocoder", "{D}", "--run", "{O}/v", "--steps", "0"], "steps"),
    (["train-vocoder", "{D}", "--run", "{O}/v", "--set", "vocoder.bogus=1"], "vocoder.bogus"),
    (["train-vocoder", "{D}", "--run", "{O}/v", "--vocoder", "griffinlim"], "griffinlim"),
    (["train-vocoder", "{T}/no-such-data", "--run", "{O}/v"], "no-such-data"),
    # demo
    (["demo", "--out", "{O}/d", "--minutes", "-1"], "--minutes"),
    (["demo", "--out", "{O}/d", "--steps", "0"], "--steps"),
    (["demo", "--out", "{O}/d", "--per-class", "0"], "--per-class"),
    (["demo", "--out", "{O}/d", "--clips", "0"], "--clips"),
    (["demo", "--out", "{O}/d", "--threads", "-1"], "threads"),
    (["demo", "--out", "{O}/d", "--set", "bogus.x=1"], "bogus"),
    # plugins
    (["plugins", "--plugin", "{T}/missing_plugin.py"], "missing_plugin.py"),
]


def _fill(argv: list[str], env: dict[str, str], out: Path | None = None) -> list[str]:
    return [a.format(O=str(out), **env) for a in argv]


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv,needle", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_option_is_one_line_exit_2(env, capsys, tmp_path, argv, needle):
    argv = _fill(argv, env, tmp_path / "out")
    code, err = _run(argv, capsys)
    # progress bars (data decoded before a plugin name is checked) and warnings are not errors
    lines = [
        line
        for line in err.replace("\r", "\n").splitlines()
        if line.strip() and "%|" not in line and not line.startswith("audiogan: warning:")
    ]
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("audiogan: error: "), err
    assert needle.format(O=str(tmp_path / "out"), **env) in lines[0], lines[0]


def test_debug_shows_the_traceback(env, capsys, tmp_path):
    from audiogan.errors import AudioganError

    with pytest.raises(AudioganError):
        main(_fill(["generate", "{T}/no-run", "--out", "{O}", "--debug"], env, tmp_path))


def test_real_entry_point(env, tmp_path):
    # (each interpreter start imports torch, ~5 s: the bulk of the cases run in-process above)
    cases = [(["train", "{D}", "--run", "{O}/r", "--set", "train.lr_g=abc"], "train.lr_g")]
    run = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for argv, needle in cases:
        out = subprocess.run(
            [sys.executable, "-m", "audiogan", *_fill(argv, env, tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=run,
        )
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("audiogan: error: ")
        assert needle in out.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiogan",
            *_fill(["generate", "{T}/no-run", "--out", "{O}", "--debug"], env, tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=run,
    )
    assert out.returncode != 0 and "Traceback" in out.stderr and "no-run" in out.stderr
