"""Evaluation during training: window/frame FD of the EMA generator every ``train.eval_every`` steps,
logged to metrics.jsonl and TensorBoard, the best kept as ``checkpoints/best.pt``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from audiogan.checkpoint import load_checkpoint
from audiogan.errors import ConfigError
from audiogan.training.config import resolve_config
from audiogan.training.loop import train

TINY = {
    "train": {
        "steps": 6,
        "threads": 1,
        "batch_size": 4,
        "seq_frames": 8,
        "log_every": 2,
        "checkpoint_every": 3,
        "sample_every": 0,
        "sample_frames": 10,
        "keep_checkpoints": 2,
        "eval_every": 2,
        "eval_clips": 8,
        "eval_real_clips": 12,
    },
    "feature": {"n_mels": 16},
    "generator": {"hidden_size": 16, "num_layers": 1, "latent_dim": 8, "noise_dim": 4, "label_dim": 4},
    "discriminator": {"hidden_size": 16, "num_layers": 1},
    "vocoder": {"n_iter": 2, "nnls_iter": 0},
}


def tiny(**train_values) -> dict:
    tree = {k: dict(v) for k, v in TINY.items()}
    tree["train"].update(train_values)
    return tree


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from audiogan.data.synthetic import write_corpus

    return write_corpus(tmp_path_factory.mktemp("train-eval") / "corpus", per_class=3, seconds=0.4)


def evals(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "window_fd" in r]


def test_periodic_evaluation_logs_and_keeps_the_best_checkpoint(corpus, tmp_path):
    run = tmp_path / "run"
    train(corpus, run, tiny(), progress=False)
    records = evals(run)
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(math.isfinite(r["window_fd"]) and math.isfinite(r["frame_fd"]) for r in records)
    best = min(records, key=lambda r: r["window_fd"])
    assert [r["best"] for r in records] == [
        r["window_fd"] < min([math.inf] + [q["window_fd"] for q in records[:i]])
        for i, r in enumerate(records)
    ]
    saved = load_checkpoint(
        run / "checkpoints" / "best.pt", kind="checkpoint"
    )  # a full, resumable checkpoint
    assert saved["step"] == best["step"] and saved["eval"]["window_fd"] == pytest.approx(best["window_fd"])
    assert saved["best_window_fd"] == pytest.approx(best["window_fd"])
    assert not list(run.glob("checkpoints/*.tmp*"))  # written atomically

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"eval/window_fd", "eval/frame_fd"} <= set(events.Tags()["scalars"])
    logged = [(e.step, e.value) for e in events.Scalars("eval/window_fd")]
    assert [s for s, _ in logged] == [2, 4, 6]
    assert [v for _, v in logged] == pytest.approx([r["window_fd"] for r in records], rel=1e-5)


def test_evaluation_keeps_resume_exact_and_remembers_the_best(corpus, tmp_path):
    # Evaluating forks the RNG: a run with evaluations resumes exactly as one without a stop.
    train(corpus, tmp_path / "straight", tiny(), progress=False)
    train(corpus, tmp_path / "split", tiny(steps=3), progress=False)
    train(corpus, tmp_path / "split", overrides=["train.steps=6"], resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    for key in ("generator", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    straight, split = evals(tmp_path / "straight"), evals(tmp_path / "split")
    assert [r["window_fd"] for r in straight] == pytest.approx([r["window_fd"] for r in split])
    assert [r["best"] for r in straight] == [r["best"] for r in split]  # the best survives the resume
    best = load_checkpoint(tmp_path / "split" / "checkpoints" / "best.pt")
    assert best["best_window_fd"] == pytest.approx(min(r["window_fd"] for r in straight))


def test_evaluation_off_and_config_errors(corpus, tmp_path):
    train(corpus, tmp_path / "off", tiny(eval_every=0, steps=2), progress=False)
    assert evals(tmp_path / "off") == []
    assert not (tmp_path / "off" / "checkpoints" / "best.pt").exists()
    assert resolve_config({}).train.eval_every == 1000
    for key, value in (("eval_every", -1), ("eval_clips", 0), ("eval_real_clips", 0)):
        with pytest.raises(ConfigError, match=f"train.{key}"):
            resolve_config({"train": {key: value}})
