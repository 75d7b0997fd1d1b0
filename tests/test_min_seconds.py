"""One rule for clips too short to be examples: prepare, train and evaluate skip the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audiogan.data import dataset as dataset_module
from audiogan.data.dataset import DEFAULT_MIN_SECONDS
from audiogan.data.synthetic import write_corpus
from audiogan.training.config import resolve_config
from audiogan.training.loop import train


def test_training_default_is_the_prepare_default() -> None:
    assert resolve_config({}).data.min_seconds == DEFAULT_MIN_SECONDS > 0


def test_training_skips_a_click_that_prepare_would_skip(tmp_path: Path, monkeypatch) -> None:
    corpus = write_corpus(tmp_path / "corpus", per_class=2, seconds=0.4, sample_rate=8000)
    click = corpus / "pluck" / "click.wav"
    sf.write(click, np.full(int(0.03 * 8000), 0.1, dtype=np.float32), 8000)  # 30 ms: below 0.05 s
    seen = []
    real_load = dataset_module.load_dataset

    def recording_load(*args, **kwargs):  # the real loader; only its result is kept for the asserts
        result = real_load(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr("audiogan.training.loop.load_dataset", recording_load)
    config = {
        "train": {
            "steps": 2,
            "batch_size": 2,
            "seq_frames": 8,
            "log_every": 1,
            "sample_every": 0,
            "device": "cpu",
            "eval_every": 0,
        },
        "feature": {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 16},
        "generator": {"name": "gru", "hidden_size": 8, "num_layers": 1, "latent_dim": 4, "label_dim": 2},
        "discriminator": {"name": "gru", "hidden_size": 8, "num_layers": 1},
    }
    train(corpus, tmp_path / "run", config, progress=False)
    (data,) = seen
    assert "pluck/click.wav" not in data.files
    assert [reason for path, reason in data.skipped if path == "pluck/click.wav"] == [
        f"shorter than min_seconds ({DEFAULT_MIN_SECONDS:g} s)"
    ]
