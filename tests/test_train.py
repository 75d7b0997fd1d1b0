"""The training engine end to end on tiny models: every G x D x loss, run folder, resume, kills, guard."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiogan.checkpoint import load_checkpoint, load_generator
from audiogan.cli import main
from audiogan.config import FeatureConfig
from audiogan.data.dataset import SequenceSampler, load_dataset
from audiogan.errors import CheckpointError, ConfigError
from audiogan.plugins import get_registry
from audiogan.training.config import TrainConfig, resolve_config
from audiogan.training.loop import train
from audiogan.training.objectives import LOSSES
from audiogan.training.trainer import Trainer

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
    },
    "feature": {"n_mels": 16},
    "generator": {"hidden_size": 16, "num_layers": 1, "latent_dim": 8, "noise_dim": 4, "label_dim": 4},
    "discriminator": {"hidden_size": 16, "num_layers": 1},
    "vocoder": {"n_iter": 2, "nnls_iter": 0},
}


def tiny(**sections):
    tree = {k: dict(v) for k, v in TINY.items()}
    for section, values in sections.items():
        tree.setdefault(section, {}).update(values)
    return tree


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a shared CPU extra threads are much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from audiogan.data.synthetic import write_corpus

    return write_corpus(tmp_path_factory.mktemp("train") / "corpus", per_class=3, seconds=0.4)


@pytest.fixture(scope="module")
def dataset(corpus):
    return load_dataset(corpus, FeatureConfig(n_mels=16), progress=False)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("g_name", ["lstm", "gru"])
@pytest.mark.parametrize("d_name", ["lstm", "gru"])
def test_every_generator_discriminator_and_loss_trains(dataset, g_name, d_name, loss):
    torch.manual_seed(0)
    registry = get_registry()
    fc, n = dataset.feature_config, dataset.num_classes
    g = registry.build("generator", g_name, TINY["generator"], fc, n)
    d = registry.build("discriminator", d_name, TINY["discriminator"] | {"scales": 2}, fc, n)
    tc = TrainConfig(batch_size=4, seq_frames=8, loss=loss, r1_gamma=1.0 if loss == "hinge" else 0.0)
    trainer = Trainer(g, d, tc, torch.device("cpu"))
    sampler = SequenceSampler(dataset, 4, 8, seed=0)
    before = [p.detach().clone() for p in g.parameters()]
    for _ in range(3):
        trainer.step(sampler.next_batch())
    metrics = trainer.pop_metrics()
    assert metrics["skipped"] == 0
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))  # G actually moved
    assert all(torch.isfinite(p).all() for p in trainer.ema.parameters())


def test_run_folder_is_complete_and_generator_loads(corpus, tmp_path):
    run = tmp_path / "run"
    result = train(corpus, run, tiny(train={"sample_every": 3}), progress=False)
    assert result.step == 6 and not result.interrupted and result.skipped == 0
    for name in ("config.toml", "generator.pt", "metrics.jsonl", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*.pt")) == [
        "step-000003.pt",
        "step-000006.pt",
    ]
    assert list((run / "tensorboard").iterdir())
    for step in ("step-000003", "step-000006"):
        names = sorted(p.name for p in (run / "samples" / step).iterdir())
        assert names == sorted(f"{c}-0.{ext}" for c in ("chirp", "drums", "pluck") for ext in ("png", "wav"))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4, 6]
    assert all(isinstance(r[k], float) for r in lines for k in ("loss_d", "loss_g", "steps_per_s"))
    # config.toml is the resolved config: re-reading it gives the same run config
    from audiogan.config import load_toml

    resolved = resolve_config(load_toml(run / "config.toml"))
    assert resolved.generator["hidden_size"] == 16 and resolved.generator["out_scale"] == 1.25
    loaded = load_generator(run)
    assert loaded.class_names == ["chirp", "drums", "pluck"] and loaded.meta["step"] == 6
    assert loaded.feature_config.has_stats and not loaded.model.training
    frames, _ = loaded.model(torch.randn(2, loaded.model.latent_dim), torch.tensor([0, 2]), 20)
    assert frames.shape == (2, 20, 16)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")
    out = {}
    for part in ("generator", "discriminator", "ema"):
        out.update({f"{part}.{k}": v for k, v in state[part].items()})
    return out


def test_resume_is_exact(corpus, tmp_path):
    config = tiny(train={"steps": 8, "checkpoint_every": 3})
    train(corpus, tmp_path / "straight", config, progress=False)
    half = tiny(train={"steps": 4, "checkpoint_every": 3})
    train(corpus, tmp_path / "split", half, progress=False)
    result = train(corpus, tmp_path / "split", overrides=["train.steps=8"], resume=True, progress=False)
    assert result.step == 8
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    logs = {
        name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("straight", "split")
    }
    assert [r["step"] for r in logs["split"]] == [2, 4, 6, 8]
    for key in ("loss_d", "loss_g", "loss_fm"):  # same seed and config: the same losses, resumed or not
        assert [r[key] for r in logs["straight"]] == [r[key] for r in logs["split"]]


def test_resume_and_run_folder_errors(corpus, tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint to resume"):
        train(corpus, tmp_path / "none", tiny(), resume=True, progress=False)
    run = tmp_path / "run"
    train(corpus, run, tiny(train={"steps": 2}), progress=False)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(corpus, run, tiny(), progress=False)
    (run / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="last.pt"):
        train(corpus, run, resume=True, progress=False)
    run2 = tmp_path / "run2"
    train(corpus, run2, tiny(train={"steps": 2}), progress=False)
    with pytest.raises(CheckpointError, match="does not match"):
        train(
            corpus, run2, resume=True, overrides=["generator.hidden_size=32", "train.steps=4"], progress=False
        )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "train.lr_gg=1"], "unknown key train.lr_gg"),
        (["--set", "train.lr_g=fast"], "train.lr_g"),
        (["--set", "generator.hiden=3"], "unknown key generator.hiden"),
        (["--set", "trian.steps=3"], "unknown config section 'trian'"),
        (["--generator", "transformer"], "transformer"),
        (["--steps", "0"], "train.steps=0"),
        (["--device", "tpu"], "train.device='tpu'"),
    ],
)
def test_config_errors_are_one_line_and_name_the_key(corpus, tmp_path, capsys, extra, message):
    config = tmp_path / "t.toml"
    config.write_text("[feature]\nn_mels = 16\n[train]\nsteps = 2\nbatch_size = 4\nseq_frames = 8\n")
    code = main(
        [
            "train",
            str(corpus),
            "--run",
            str(tmp_path / "run"),
            "--config",
            str(config),
            "--no-progress",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_no_progress_prints_a_status_line_per_log_step(corpus, tmp_path, capsys):
    # With no bar (a nohup'd run writing to a log file) the log must still show the run advancing.
    from audiogan.config import to_toml

    config = tmp_path / "t.toml"
    config.write_text(to_toml(tiny(train={"steps": 6, "log_every": 2, "checkpoint_every": 6})))
    assert (
        main(["train", str(corpus), "--run", str(tmp_path / "run"), "--config", str(config), "--no-progress"])
        == 0
    )
    status = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in status] == ["2/6", "4/6", "6/6"], status
    assert all("loss_d" in line and "steps/s" in line for line in status)


def test_cli_missing_toml_is_an_error(corpus, tmp_path, capsys):
    assert (
        main(["train", str(corpus), "--run", str(tmp_path / "r"), "--config", str(tmp_path / "no.toml")]) == 2
    )
    assert "no.toml" in capsys.readouterr().err


def _wait_for_step(run: Path, min_step: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Wait until a step checkpoint >= ``min_step`` exists (older ones may already be pruned)."""
    # Generous: on a loaded shared CPU a fresh interpreter can take a minute to import torch.
    deadline = time.monotonic() + timeout
    while not any(int(p.stem.split("-")[1]) >= min_step for p in (run / "checkpoints").glob("step-*.pt")):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"no checkpoint of step >= {min_step} in {run} appeared"
        time.sleep(0.05)


def _start(corpus: Path, run: Path, tmp_path: Path) -> subprocess.Popen:
    config = tmp_path / "t.toml"
    from audiogan.config import to_toml

    config.write_text(to_toml(tiny(train={"steps": 100000, "checkpoint_every": 4, "log_every": 4})))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogan",
            "train",
            str(corpus),
            "--run",
            str(run),
            "--config",
            str(config),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkilled_training_resumes_and_ctrl_c_saves_and_exits_cleanly(corpus, tmp_path):
    run = tmp_path / "run"
    proc = _start(corpus, run, tmp_path)
    try:
        _wait_for_step(run, 4, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    killed_at = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")[
        "step"
    ]  # readable after a kill
    assert killed_at >= 4 and killed_at % 4 == 0
    # Resume in a new process, then stop it with Ctrl-C once it has saved a checkpoint of its own.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiogan",
            "train",
            str(corpus),
            "--run",
            str(run),
            "--resume",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_step(run, killed_at + 4, proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted at step" in out and "--resume" in out and "Traceback" not in err
    step = int(out.split("interrupted at step ")[1].split(";")[0])
    assert step >= killed_at + 4
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == step
    assert (run / "checkpoints" / f"step-{step:06d}.pt").is_file()
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[0] == 4  # one history, no lines from after the kill twice
    load_generator(run)


NAN_PLUGIN = '''
import torch
import audiogan
from audiogan_plugins.rnn import LSTMDiscriminator


class NaNWindowDiscriminator(LSTMDiscriminator):
    """Returns NaN logits for training calls START..STOP: a deliberately broken discriminator."""

    name = "nan-window"
    calls = 0

    def forward(self, frames, labels):
        logits, features = super().forward(frames, labels)
        if self.training:
            type(self).calls += 1
            if START <= type(self).calls < STOP:
                logits = logits * float("nan")
        return logits, features


@audiogan.hookimpl
def register_discriminators():
    return [NaNWindowDiscriminator]
'''


def test_divergence_guard_restores_and_lowers_the_learning_rate(corpus, tmp_path):
    plugin = tmp_path / "nan_plugin.py"
    # D runs 2 times a step (real+fake together, then the G step): calls 10..40 poison steps 5..20,
    # i.e. > patience (4) in a row.
    plugin.write_text(NAN_PLUGIN.replace("START", "10").replace("STOP", "40"))
    registry = get_registry(extra=[str(plugin)])
    config = tiny(
        train={"steps": 12, "divergence_patience": 4, "checkpoint_every": 2},
        discriminator={"name": "nan-window"},
    )
    with pytest.warns(RuntimeWarning, match="non-finite steps in a row"):
        result = train(corpus, tmp_path / "run", config, registry=registry, progress=False)
    assert result.step == 12 and result.restores >= 1 and result.skipped >= 4
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "divergence_restore" for r in records)
    last = [r for r in records if "loss_d" in r][-1]
    assert last["lr_g"] < TINY_LR_G and all(
        torch.isfinite(torch.tensor(last[k])) for k in ("loss_d", "loss_g")
    )
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())


TINY_LR_G = TrainConfig().lr_g


def test_device_selection():
    from audiogan.training.config import select_device

    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            select_device("cuda")
