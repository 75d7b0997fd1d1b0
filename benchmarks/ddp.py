"""Distributed training figures (issue 8).

    python -m benchmarks.ddp scaling [--data DIR] [--batch 32] [--steps 80] [--hidden 128]
    python -m benchmarks.ddp wrap [--device cuda] [--batch 32] [--frames 64] [--steps 40]
    python -m benchmarks.ddp quality [--data DIR] [--batch 32] [--steps 300] [--hidden 64]

``scaling``: throughput (samples/s = steps/s x global batch) of real ``audiogan train`` runs,
1 process against 2 processes under ``torchrun --standalone`` (gloo on the CPU, NCCL on GPUs),
with the same global batch (2 x batch/2) and with the per-process batch kept (global 2 x batch).
steps/s is read from rank 0's ``metrics.jsonl`` (time spent writing checkpoints excluded); the
first log interval (start-up, allocator warm-up) is dropped; the median of the rest is reported.
Default data: FSDD when present (``../shared/data/fsdd/recordings``), else a synthetic corpus.

``quality``: same global batch, same number of optimiser steps, 1 process (batch B) against 2
processes (batch B/2 each): the EMA generator's window / frame Frechet distances to the data
(the training-time evaluation, ``train.eval_every``) at a third, two thirds and the end.

``wrap``: the cost of the DistributedDataParallel wrapper itself on one device: the engine's
training step with G and D wrapped (world size 1, real process group, real reducer) against the
same step unwrapped, in the same process, interleaved blocks, median ms/step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


def _config(args: argparse.Namespace, batch: int, threads: int, cache_dir: Path) -> str:
    from audiogan.config import to_toml

    eval_every = max(args.steps // 3, 1) if args.mode == "quality" else 0
    tree = {
        "train": {
            "steps": args.steps,
            "batch_size": batch,
            "seq_frames": args.frames,
            "log_every": args.log_every,
            "checkpoint_every": 10**6,
            "sample_every": 0,
            "eval_every": eval_every,
            "threads": threads,
            "device": args.device,
        },
        # The cache goes to the work folder: never write into the data folder (FSDD is shared, read-only).
        "data": {"cache_dir": str(cache_dir)},
        "feature": {"n_mels": args.mels},
        "generator": {"hidden_size": args.hidden, "num_layers": args.layers},
        "discriminator": {"hidden_size": args.hidden, "num_layers": args.layers},
        "vocoder": {"n_iter": 2, "nnls_iter": 0},
    }
    return to_toml(tree)


def _run(args: argparse.Namespace, data: Path, procs: int, batch: int, threads: int, work: Path) -> dict:
    name = f"p{procs}-b{batch}-t{threads}"
    config = work / f"{name}.toml"
    config.write_text(_config(args, batch, threads, work / "cache"))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    train = ["train", str(data), "--run", str(work / name), "--config", str(config), "--no-progress"]
    if procs == 1:
        command = [sys.executable, "-m", "audiogan", *train]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(procs),
            "-m",
            "audiogan",
            "--",
            *train,
        ]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    records = [json.loads(line) for line in (work / name / "metrics.jsonl").read_text().splitlines()]
    rates = [r["steps_per_s"] for r in records if "steps_per_s" in r][1:]
    steps_s = statistics.median(rates)
    evals = [(r["step"], r["window_fd"], r["frame_fd"]) for r in records if "window_fd" in r]
    return {
        "procs": procs,
        "batch": batch,
        "global": procs * batch,
        "threads": threads,
        "steps_s": steps_s,
        "samples_s": steps_s * procs * batch,
        "wall": wall,
        "evals": evals,
        "command": " ".join(command[1:]),
    }


def _data(args: argparse.Namespace, work: Path) -> Path:
    if args.data:
        return Path(args.data)
    if FSDD.is_dir():
        return FSDD
    from audiogan.data.synthetic import write_corpus

    return write_corpus(work / "corpus", per_class=20, seconds=0.6)


def quality(args: argparse.Namespace) -> int:
    """1 process x batch B vs 2 processes x batch B/2: same steps, window/frame FD along the way."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = _data(args, work)
        rows = [
            _run(args, data, 1, args.batch, 1, work),
            _run(args, data, 2, max(args.batch // 2, 1), 1, work),
        ]
    print(
        f"data {data}; LSTM hidden {args.hidden} x {args.layers} layers, "
        f"{args.frames} frames, {args.mels} mels, "
        f"global batch {args.batch}, {args.steps} steps, device {args.device}"
    )
    print()
    print("| processes x batch | step | window FD | frame FD |")
    print("|---|---:|---:|---:|")
    for r in rows:
        for step, window, frame in r["evals"]:
            print(f"| {r['procs']} x {r['batch']} | {step} | {window:.1f} | {frame:.2f} |")
    return 0


def scaling(args: argparse.Namespace) -> int:
    """1 vs 2 processes, real training runs."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = _data(args, work)
        half = max(args.batch // 2, 1)
        plans = [(1, args.batch, 1), (1, args.batch, 2), (2, half, 1), (2, args.batch, 1)]
        rows = [_run(args, data, *plan, work) for plan in plans]
    print(
        f"data {data}; LSTM hidden {args.hidden} x {args.layers} layers, "
        f"{args.frames} frames, {args.mels} mels, "
        f"{args.steps} steps, device {args.device}; CPU cores {os.cpu_count()}"
    )
    print()
    print("| processes | batch / process | global batch | threads / process | steps/s | samples/s | wall s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['procs']} | {r['batch']} | {r['global']} | {r['threads']} | {r['steps_s']:.2f} | "
            f"{r['samples_s']:.0f} | {r['wall']:.0f} |"
        )
    base = rows[0]["samples_s"]
    print()
    for r in rows[1:]:
        print(
            f"{r['procs']} proc x batch {r['batch']} x {r['threads']} thread(s): "
            f"{r['samples_s'] / base:.2f}x "
            f"the samples/s of 1 proc x batch {rows[0]['batch']} x 1 thread"
        )
    return 0


def wrap(args: argparse.Namespace) -> int:
    """Engine step with and without the DDP wrapper on one device (world size 1)."""
    import torch.distributed as dist

    from audiogan.config import FeatureConfig
    from audiogan.data.dataset import Batch
    from audiogan.plugins import get_registry
    from audiogan.training.config import TrainConfig
    from audiogan.training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device if device.index is not None else 0)
        device = torch.device("cuda", torch.cuda.current_device())
        torch.backends.cudnn.benchmark = True
    store = dist.TCPStore("127.0.0.1", 0, 1, is_master=True)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", store=store, rank=0, world_size=1)
    registry, fc = get_registry(), FeatureConfig(n_mels=args.mels)
    tc = TrainConfig(batch_size=args.batch, seq_frames=args.frames)

    def trainer() -> Trainer:
        torch.manual_seed(0)
        g = registry.build(
            "generator", "lstm", {"hidden_size": args.hidden, "num_layers": args.layers}, fc, 3
        )
        d = registry.build(
            "discriminator", "lstm", {"hidden_size": args.hidden, "num_layers": args.layers}, fc, 3
        )
        return Trainer(g, d, tc, device)

    gen = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randn(args.batch, args.frames, args.mels, generator=gen).clamp(-1, 1),
        torch.randint(0, 3, (args.batch,), generator=gen),
        torch.ones(args.batch, args.frames, dtype=torch.bool),
    )
    plain, wrapped = trainer(), trainer()
    wrapped.distribute()
    sides = {"plain": plain.step, "ddp": wrapped.step}
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for step in sides.values():
        for _ in range(3):
            step(batch)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(0, args.steps, args.block):
        for name, step in sides.items():
            for _ in range(args.block):
                sync()
                start = time.perf_counter()
                step(batch)
                sync()
                times[name].append(time.perf_counter() - start)
    dist.destroy_process_group()
    med = {name: statistics.median(v) for name, v in times.items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {device} ({name}), bf16 autocast {plain.use_amp}; "
        f"batch {args.batch}, {args.frames} frames, "
        f"{args.mels} mels, LSTM hidden {args.hidden} x {args.layers}; "
        f"{len(times['plain'])} timed steps per side"
    )
    print()
    print("| step | median ms/step | steps/s |")
    print("|---|---:|---:|")
    for key in sides:
        print(f"| {key} | {1000 * med[key]:.2f} | {1 / med[key]:.1f} |")
    print()
    print(f"ddp / plain = {med['ddp'] / med['plain']:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse and run one of the two benchmarks."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("scaling", "quality", "wrap"))
    parser.add_argument("--data", help="audio folder for 'scaling' (default FSDD, else synthetic)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32, help="global batch (scaling) / batch (wrap)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--mels", type=int, default=80)
    parser.add_argument("--hidden", type=int, default=None, help="LSTM hidden size (default 128; quality 64)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="steps (default 80; quality 300)")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--block", type=int, default=5, help="wrap: steps per interleaved block")
    parser.add_argument("--threads", type=int, default=1, help="wrap: torch CPU threads")
    args = parser.parse_args(argv)
    if args.hidden is None:
        args.hidden = 64 if args.mode == "quality" else 128
    if args.steps is None:
        args.steps = 300 if args.mode == "quality" else 80
    return {"scaling": scaling, "quality": quality, "wrap": wrap}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
