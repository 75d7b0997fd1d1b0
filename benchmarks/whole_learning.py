"""Whole sounds learned, not just run: a tiny whole-sound GAN against its own untrained start.

    python -m benchmarks.whole_learning [--steps 1200] [--seed 0] [--sabotage swap|shuffle]

Two classes that differ in length and shape, each sound placed at a random offset in a clip of
faint noise: ``short`` (a 0.12 s pluck) and ``long`` (a 0.40 s rising chirp), 8 kHz. A tiny GRU
GAN trains on them in whole-sound mode (``data.mode=whole``); then the trained EMA generator and
the same architecture untrained (same seed) make clips at their learned lengths (the canvas cut
where each sound ends, as ``audiogan generate`` does) and both are scored against a second corpus
written with another seed, never trained on:

* ``length_error``: the mean over classes of |generated - real| mean sound length (seconds);
* ``window_fd``: the Fréchet distance of 4-frame windows (:class:`~audiogan.evaluation.metrics.WindowFD`).

``tests/test_whole_learning.py`` runs this and asserts both improve by a clear margin. The
sabotages show the check can fail: ``swap`` exchanges real and fake in the discriminator's loss,
``shuffle`` gives every training batch shuffled labels (lengths then stop following the class).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from audiogan.data.synthetic import chirp, pluck

SAMPLE_RATE = 8000
CLIP_SECONDS = 0.6
SOUNDS = {"short": (pluck, 0.12), "long": (chirp, 0.40)}


def write_lengths_corpus(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """``per_class`` WAVs per class in ``root/<class>/``: its sound at a random offset in faint noise."""
    rng = np.random.default_rng(seed)
    for name, (make, seconds) in SOUNDS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            sound = make(rng, SAMPLE_RATE, seconds)
            sound = 0.5 * sound / (np.max(np.abs(sound)) or 1.0)
            clip = 1e-4 * rng.standard_normal(int(CLIP_SECONDS * SAMPLE_RATE))
            start = int(rng.uniform(0.03, 0.1) * SAMPLE_RATE)
            clip[start : start + sound.size] += sound
            sf.write(root / name / f"{name}-{index:03d}.wav", clip.astype(np.float32), SAMPLE_RATE)
    return root


def tiny_config(steps: int, seed: int) -> dict[str, Any]:
    """A model small enough to learn this corpus in well under a minute on one CPU thread."""
    return {
        "train": {
            "steps": steps,
            "batch_size": 16,
            "lr_g": 1e-3,
            "lr_d": 2e-3,
            "log_every": 100,
            "checkpoint_every": steps,
            "sample_every": 0,
            "eval_every": 0,
            "device": "cpu",
            "threads": 1,
            "seed": seed,
        },
        "data": {"mode": "whole"},
        "feature": {"sample_rate": SAMPLE_RATE, "n_fft": 256, "hop_length": 128, "n_mels": 24},
        "generator": {"name": "gru", "hidden_size": 48, "num_layers": 1, "latent_dim": 8, "noise_dim": 4},
        "discriminator": {"name": "gru", "hidden_size": 32, "num_layers": 1},
    }


@contextlib.contextmanager
def sabotaged(kind: str | None) -> Iterator[None]:
    """Break training on purpose: ``swap`` real/fake in D's loss, ``shuffle`` every batch's labels."""
    if kind is None:
        yield
        return
    from audiogan.data import dataset as dataset_module
    from audiogan.training import objectives

    if kind == "swap":
        original = objectives.discriminator_loss
        patched: Any = lambda name, real, fake: original(name, fake, real)  # noqa: E731
        target, attribute = objectives, "discriminator_loss"
    elif kind == "shuffle":
        original = dataset_module.SequenceSampler.next_batch

        def patched(self: Any) -> Any:
            batch = original(self)
            if batch.labels is not None:
                batch.labels = batch.labels[torch.randperm(batch.labels.shape[0])]
            return batch

        target, attribute = dataset_module.SequenceSampler, "next_batch"
    else:
        raise ValueError(f"unknown sabotage {kind!r}: swap or shuffle")
    setattr(target, attribute, patched)
    try:
        yield
    finally:
        setattr(target, attribute, original)


def _scores(synth: Any, real: dict[int, list[np.ndarray]], fd: Any, per_class: int) -> dict[str, Any]:
    frame = synth.feature_config.hop_length / synth.sample_rate
    errors, sequences, seconds = [], [], {}
    for label, sounds in real.items():
        made = [synth.whole_frames(r).float().numpy() for r in synth.requests(per_class, label, seed=100)]
        sequences += made
        seconds[synth.class_names[label]] = float(np.mean([len(m) for m in made]) * frame)
        errors.append(abs(np.mean([len(m) for m in made]) - np.mean([len(s) for s in sounds])) * frame)
    return {
        "length_error": float(np.mean(errors)),
        "window_fd": float(fd.score(sequences)),
        "seconds": seconds,
    }


def check(work: Path, steps: int = 1200, seed: int = 0, sabotage: str | None = None) -> dict[str, Any]:
    """Train on the corpus in ``work`` and score the untrained and trained generators (see the module)."""
    from audiogan.data.dataset import load_dataset
    from audiogan.data.whole import plan_whole
    from audiogan.evaluation.metrics import WindowFD
    from audiogan.generation.generate import load
    from audiogan.generation.synthesizer import Synthesizer
    from audiogan.plugins import get_registry
    from audiogan.training.loop import train

    train_root = write_lengths_corpus(work / "train", seed=seed)
    test_root = write_lengths_corpus(work / "test", per_class=8, seed=seed + 1000)
    config = tiny_config(steps, seed)
    with sabotaged(sabotage):
        train(train_root, work / "run", config, progress=False)
    trained = load(work / "run", device="cpu")
    fc = trained.feature_config
    test = load_dataset(test_root, fc, progress=False, workers=1)
    record = trained.sound or {}
    whole = plan_whole(
        test,
        "whole",
        trim_db=record["trim_db"],
        pad_seconds=record["pad_frames"] * fc.hop_length / fc.sample_rate,
        canvas_seconds=record["canvas_frames"] * fc.hop_length / fc.sample_rate,
    )
    assert whole is not None
    real: dict[int, list[np.ndarray]] = {}
    for i in range(len(test)):
        label = trained.label_index(test.class_names[int(test.labels[i])])
        real.setdefault(int(label), []).append(whole.sound(test, i))
    fd = WindowFD([s for sounds in real.values() for s in sounds], k=4, pca_dim=32)
    torch.manual_seed(seed)
    cfg = dict(config["generator"])
    untrained_model = get_registry().build("generator", cfg.pop("name"), cfg, fc, trained.num_classes)
    untrained = Synthesizer(untrained_model, fc, trained.vocoder, trained.class_names, meta=trained.meta)
    per_class = 12
    return {
        "steps": steps,
        "seed": seed,
        "sabotage": sabotage,
        "real_seconds": {
            trained.class_names[k]: float(np.mean([len(s) for s in v]) * fc.hop_length / fc.sample_rate)
            for k, v in real.items()
        },
        "untrained": _scores(untrained, real, fd, per_class),
        "trained": _scores(trained, real, fd, per_class),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the check and print its figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1200, help="training steps (default 1200)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and training seed (default 0)")
    parser.add_argument("--sabotage", choices=("swap", "shuffle"), help="break training on purpose")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="audiogan-whole-") as work:
        print(json.dumps(check(Path(work), args.steps, args.seed, args.sabotage), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
