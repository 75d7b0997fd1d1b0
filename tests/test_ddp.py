"""Training under torchrun on the CPU (gloo, 2 real processes): identical models on every rank,
one set of run files written by rank 0, elastic restart after a killed worker, and resuming a
2-process run as 1 process and the reverse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiogan.checkpoint import load_checkpoint
from audiogan.training.loop import train

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")

TINY = {
    "train": {
        "steps": 8,
        "threads": 1,
        "batch_size": 4,
        "seq_frames": 8,
        "log_every": 2,
        "checkpoint_every": 3,
        "sample_every": 0,
        "sample_frames": 10,
        "keep_checkpoints": 2,
        "r1_gamma": 1.0,
        "eval_every": 0,
    },
    "feature": {"n_mels": 16},
    # named: the tests' plugins subclass the LSTM discriminator (the CPU profile would pick GRUs)
    "generator": {
        "name": "lstm",
        "hidden_size": 16,
        "num_layers": 1,
        "latent_dim": 8,
        "noise_dim": 4,
        "label_dim": 4,
    },
    "discriminator": {"name": "lstm", "hidden_size": 16, "num_layers": 1},
    "vocoder": {"n_iter": 2, "nnls_iter": 0},
}


def _toml(tree: dict) -> str:
    from audiogan.config import to_toml

    return to_toml(tree)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from audiogan.data.synthetic import write_corpus

    return write_corpus(tmp_path_factory.mktemp("ddp") / "corpus", per_class=3, seconds=0.4)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torchrun(
    args: list[str],
    dump: Path,
    env_extra: dict[str, str] | None = None,
    restarts: int = 0,
    timeout: float = 240,
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node 2 -m audiogan -- ARGS`` with one thread per process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "RANK",
            "WORLD_SIZE",
            "LOCAL_RANK",
            "MASTER_ADDR",
            "MASTER_PORT",
            "TORCHELASTIC_RESTART_COUNT",
        )
    }
    env.update(OMP_NUM_THREADS="1", AUDIOGAN_DEBUG_DUMP=str(dump), **(env_extra or {}))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        str(restarts),
        "--monitor-interval",
        "0.2",
        "-m",
        "audiogan",
        "--",
        *args,
        "--no-progress",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def _tensors(tree) -> list[torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for key in sorted(tree, key=str) for t in _tensors(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [t for value in tree for t in _tensors(value)]
    return []


def assert_ranks_identical(dump: Path, step: int) -> dict:
    """Both processes' final weights, EMA and optimiser states are bit-identical."""
    states = [load_checkpoint(dump / f"rank-{r}.pt") for r in (0, 1)]
    assert [s["step"] for s in states] == [step, step]
    assert states[0]["guard"] == states[1]["guard"]  # skipped steps, restores, learning-rate scale
    for key in ("generator", "discriminator", "ema", "opt_g", "opt_d"):
        a, b = _tensors(states[0][key]), _tensors(states[1][key])
        assert a and len(a) == len(b), key
        assert all(torch.equal(x, y) for x, y in zip(a, b)), f"{key} differs between ranks"
    return states[0]


def metric_steps(run: Path) -> list[int]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in lines if "loss_d" in r]


def test_two_processes_train_alike_survive_a_killed_worker_and_resume_as_one(corpus, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(_toml(TINY))
    run, dump = tmp_path / "run", tmp_path / "dump"
    # Rank 1 SIGKILLs itself after step 5 (checkpoint at 3): torchrun restarts the group, which
    # resumes from last.pt (step 3) and finishes the 8 steps.
    result = torchrun(
        ["train", str(corpus), "--run", str(run), "--config", str(config)],
        dump,
        {"AUDIOGAN_DEBUG_KILL": "1:5"},
        restarts=1,
    )
    assert result.stdout.count("trained to step 8") == 1  # rank 0 alone reports
    assert "exitcode: -9" in result.stderr  # torchrun saw the worker die by SIGKILL, and restarted the group
    final = assert_ranks_identical(dump, 8)
    last = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")
    assert last["step"] == 8 and len(last["rng_world"]) == 2
    assert all(torch.equal(last["generator"][k], final["generator"][k]) for k in final["generator"])
    # One set of files: rank 0's, at the steps of one run (metrics truncated back to 3 on resume).
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "last.pt",
        "step-000006.pt",
        "step-000008.pt",
    ]
    assert metric_steps(run) == [2, 4, 6, 8]
    assert {p.name for p in run.iterdir()} >= {
        "config.toml",
        "generator.pt",
        "metrics.jsonl",
        "tensorboard",
        "samples",
    }
    # Metrics are the global batch's: the mean over both ranks (not rank 0's own losses).
    assert all(
        r.get("skipped") == 0 for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    )

    # The same 2-process checkpoint continues as a single process.
    resumed = train(corpus, run, overrides=["train.steps=10"], resume=True, progress=False)
    assert resumed.step == 10 and metric_steps(run) == [2, 4, 6, 8, 10]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["sampler"]["world_size"] == 1


NAN_ON_RANK_1 = '''
import os
import audiogan
from audiogan_plugins.rnn import LSTMDiscriminator


class NaNOnRank1(LSTMDiscriminator):
    """NaN logits on rank 1 only, for its training calls 1..9: one process goes bad, the others not."""

    name = "nan-rank1"
    calls = 0

    def forward(self, frames, labels):
        logits, features = super().forward(frames, labels)
        if self.training and os.environ.get("RANK") == "1":
            type(self).calls += 1
            if type(self).calls <= 9:
                logits = logits * float("nan")
        return logits, features


@audiogan.hookimpl
def register_discriminators():
    return [NaNOnRank1]
'''


def test_one_process_checkpoint_resumes_as_two(corpus, tmp_path):
    """A 1-process checkpoint continues under torchrun; NaNs on one rank only make every rank skip
    the same steps and the divergence guard restore at the same step, so the models stay identical."""
    run, dump = tmp_path / "run", tmp_path / "dump"
    plugin = tmp_path / "nan_rank1.py"
    plugin.write_text(NAN_ON_RANK_1)
    tree = {k: dict(v) for k, v in TINY.items()}
    tree["train"].update(steps=4)
    first = train(corpus, run, tree, progress=False)
    assert first.step == 4
    at4 = load_checkpoint(run / "checkpoints" / "last.pt")["generator"]
    # D runs 4 times a step on rank 1 (D step, R1, the feature-matching targets, G step): its first
    # 9 calls make steps 5, 6 and the restarted 5 go bad.
    torchrun(
        [
            "train",
            str(corpus),
            "--run",
            str(run),
            "--resume",
            "--plugin",
            str(plugin),
            "--set",
            "train.steps=7",
            "--set",
            'discriminator.name="nan-rank1"',
            "--set",
            "train.divergence_patience=2",
        ],
        dump,
    )
    final = assert_ranks_identical(dump, 7)
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["step"] == 7 and last["sampler"]["world_size"] == 2
    assert (
        last["guard"]["restores"] == 1 and last["guard"]["skipped"] >= 2 and last["guard"]["lr_scale"] == 0.5
    )
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r.get("event") == "divergence_restore"] == [4]
    assert metric_steps(run) == [2, 4, 6, 7]
    assert any(not torch.equal(at4[k], final["generator"][k]) for k in at4)  # the two processes trained on
