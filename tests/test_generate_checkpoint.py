"""Generating from any training checkpoint (``generate RUN --checkpoint best|last|step-N|FILE``): the
checkpoint's EMA generator, bit-identical to a generator.pt written from that checkpoint, printed
and recorded in manifest.json; best.pt is the default for a run folder that has one; unknown names
and files that are not training checkpoints are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import audiogan
from audiogan.checkpoint import generator_file, load_checkpoint, save_checkpoint, sound_record
from audiogan.cli import main
from audiogan.config import FeatureConfig
from audiogan.errors import CheckpointError

SR, HOP, N_MELS = 8000, 64, 16


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny conditional GRU run: 6 steps, a checkpoint and an evaluation every 2 (so best.pt exists)."""
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    root = tmp_path_factory.mktemp("ckpt")
    corpus = write_corpus(root / "corpus", per_class=3, seconds=0.4, sample_rate=SR)
    config = {
        "train": {
            "steps": 6,
            "batch_size": 4,
            "seq_frames": 16,
            "log_every": 2,
            "checkpoint_every": 2,
            "keep_checkpoints": 5,
            "eval_every": 2,
            "eval_clips": 6,
            "eval_real_clips": 9,
            "sample_every": 0,
            "sample_frames": 16,
            "device": "cpu",
            "threads": 1,
        },
        "feature": {"sample_rate": SR, "n_fft": 256, "hop_length": HOP, "n_mels": N_MELS},
        "generator": {"name": "gru", "hidden_size": 16, "num_layers": 1, "latent_dim": 8, "label_dim": 4},
        "discriminator": {"name": "gru", "hidden_size": 16, "num_layers": 1},
    }
    train(corpus, root / "run", config, progress=False)
    assert (root / "run" / "checkpoints" / "best.pt").is_file()
    return root / "run"


def generator_pt_from(checkpoint: Path, dest: Path) -> Path:
    """What the training loop writes as generator.pt at that checkpoint's step, built here by hand."""
    from audiogan.plugins import get_registry

    state = load_checkpoint(checkpoint, kind="checkpoint")
    registry = get_registry()
    config = {k: v for k, v in state["config"]["generator"].items() if k != "name"}
    name = state["config"]["generator"]["name"]
    fc = FeatureConfig.from_dict(state["feature_config"])
    module = registry.build("generator", name, config, fc, len(state["class_names"]))
    module.load_state_dict(state["ema"])
    sound = sound_record(state["config"]["data"], fc)  # a whole-sound run's clip ends
    payload = generator_file(registry, name, module, fc, state["class_names"], state["step"], sound)
    return save_checkpoint(payload, dest / "generator.pt")


def generate(target: Path, out: Path, *extra: str) -> list[str]:
    words = ["generate", str(target), "--out", str(out), "--per-label", "1", "--seconds", "0.3"]
    assert (
        main([*words, "--device", "cpu", "--vocoder", "griffinlim", "--set", "vocoder.n_iter=2", *extra]) == 0
    )
    return sorted(p.name for p in out.glob("*.wav"))


@pytest.mark.parametrize(
    "choice, file",
    [
        ("best", "best.pt"),
        ("last", "last.pt"),
        ("step-000004", "step-000004.pt"),
        ("2", "step-000002.pt"),
        ("checkpoints/step-000004.pt", "step-000004.pt"),
    ],
)
def test_generates_from_a_checkpoint_like_a_generator_pt_of_it(
    run: Path, tmp_path: Path, capsys, choice: str, file: str
) -> None:
    checkpoint = run / "checkpoints" / file
    step = load_checkpoint(checkpoint)["step"]
    names = generate(run, tmp_path / "from-checkpoint", "--checkpoint", choice)
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith(f"generator: checkpoints/{file} (step {step}, EMA)")
    reference = generator_pt_from(checkpoint, tmp_path / "reference")
    assert generate(reference, tmp_path / "from-generator-pt") == names and len(names) == 3
    for name in names:  # the same PCM bytes
        assert (tmp_path / "from-checkpoint" / name).read_bytes() == (
            tmp_path / "from-generator-pt" / name
        ).read_bytes()
    manifest = json.loads((tmp_path / "from-checkpoint" / "manifest.json").read_text())
    evaluation = load_checkpoint(checkpoint).get("eval")
    assert manifest["checkpoint"] == {
        "name": choice,
        "file": str(checkpoint.resolve()),
        "step": step,
        "weights": "ema",
        "default": False,
        # best.pt records what it was chosen on: 3 clips per class are too few to hold any out
        "measured_on": "training" if evaluation else None,
        "window_fd": evaluation["window_fd"] if evaluation else None,
    }
    assert (file == "best.pt") == (evaluation is not None)
    assert manifest["generator"]["step"] == step and manifest["generator_file"] is None
    assert manifest["options"]["checkpoint"] == choice


def test_the_default_is_the_best_and_last_is_generator_pt(run: Path, tmp_path: Path, capsys) -> None:
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    names = generate(run, tmp_path / "default")
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"generator: checkpoints/best.pt (step {best['step']}, EMA), best window FD")
    assert line.endswith("on training clips; --checkpoint last for the final one")
    manifest = json.loads((tmp_path / "default" / "manifest.json").read_text())
    assert manifest["checkpoint"]["name"] == "best" and manifest["checkpoint"]["default"] is True
    assert manifest["generator_file"] is None and manifest["options"]["checkpoint"] is None
    # the same clips as asking for best
    assert generate(run, tmp_path / "best", "--checkpoint", "best") == names
    for name in names:
        assert (tmp_path / "default" / name).read_bytes() == (tmp_path / "best" / name).read_bytes()
    # the run's generator.pt (given as a file, no choice made) is the EMA at the last step: last.pt
    assert generate(run / "generator.pt", tmp_path / "final") == names
    assert generate(run, tmp_path / "last", "--checkpoint", "last") == names
    for name in names:
        assert (tmp_path / "final" / name).read_bytes() == (tmp_path / "last" / name).read_bytes()
    # an earlier step's EMA is another generator: the choice is not ignored
    assert generate(run, tmp_path / "early", "--checkpoint", "step-000002") == names
    assert any(
        (tmp_path / "last" / name).read_bytes() != (tmp_path / "early" / name).read_bytes() for name in names
    )


def test_python_api_and_a_run_without_generator_pt(run: Path, tmp_path: Path) -> None:
    import shutil

    best = load_checkpoint(run / "checkpoints" / "best.pt")
    synth = audiogan.load(run, checkpoint="best", device="cpu")
    assert synth.meta["checkpoint"]["step"] == best["step"] == synth.meta["step"]
    for key, value in best["ema"].items():
        assert torch.equal(synth.generator.state_dict()[key], value)
    # a run whose training has not finished (no generator.pt yet) generates from its best so far
    partial = tmp_path / "partial"
    shutil.copytree(run / "checkpoints", partial / "checkpoints")
    assert audiogan.load(partial, device="cpu").meta["step"] == best["step"]
    assert audiogan.load(partial, checkpoint="last", device="cpu").meta["step"] == 6
    (partial / "checkpoints" / "best.pt").unlink()  # nor a best one: say what is missing
    with pytest.raises(CheckpointError, match="generator.pt"):
        audiogan.load(partial, device="cpu")
    # any checkpoint file, outside the run too
    outside = shutil.copy(run / "checkpoints" / "step-000002.pt", tmp_path / "elsewhere.pt")
    assert audiogan.load(run, checkpoint=outside, device="cpu").meta["checkpoint"]["step"] == 2


def test_errors_are_one_line(run: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out")
    base = ["generate", str(run), "--out", out, "--device", "cpu", "--checkpoint"]
    assert main([*base, "step-000123"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'step-000123' not found" in err
    assert "available: best, last, step-000002, step-000004, step-000006" in err
    assert main([*base, str(run / "generator.pt")]) == 2  # a generator file is not a training checkpoint
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{run / 'generator.pt'}: not a training checkpoint" in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    assert main([*base, str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(junk) in err
    assert not (tmp_path / "out").exists()  # nothing was written


def test_evaluate_a_checkpoint(run: Path, tmp_path: Path) -> None:
    from audiogan.evaluation.evaluate import evaluate, format_table

    corpus = run.parent / "corpus"
    best = evaluate(run, corpus, n_per_label=2, k=4, mel_space="generator", device="cpu", checkpoint="best")
    step = load_checkpoint(run / "checkpoints" / "best.pt")["step"]
    assert best["settings"]["checkpoint"]["step"] == step
    assert f"(step {step}, EMA)" in format_table(best)
    last = evaluate(run, corpus, n_per_label=2, k=4, mel_space="generator", device="cpu", checkpoint="last")
    default = evaluate(run, corpus, n_per_label=2, k=4, mel_space="generator", device="cpu")
    assert default["settings"]["checkpoint"]["name"] == "best" and default["results"] == best["results"]
    final = evaluate(run / "generator.pt", corpus, n_per_label=2, k=4, mel_space="generator", device="cpu")
    assert final["results"] == last["results"]
