"""``audiogan train DATA_DIR --run runs/NAME``: train a recurrent GAN on a folder of recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train a GAN on a folder of audio (labels from first-level subfolders)"
ORDER = 20
DESCRIPTION = """Train a recurrent GAN on DATA_DIR and write the run folder (config.toml, checkpoints/,
generator.pt, metrics.jsonl, data.json, tensorboard/, samples/).

Settings: command-line options > --config TOML > defaults. Any setting can be given as
--set section.key=value, e.g. --set train.lr_d=2e-4 --set generator.hidden_size=128.
Ctrl-C saves a checkpoint and stops; --resume continues from checkpoints/last.pt.
It starts by printing what it found (files, classes with counts, duration, skipped files and why,
device, threads) and ends with the command that writes the run's page ('audiogan report').
With --minutes the progress bar shows elapsed time against that budget, else steps.

Several GPUs or machines: launch with torchrun, e.g.
  torchrun --standalone --nproc-per-node 4 -m audiogan -- train DATA_DIR --run runs/NAME
(the -- ends torchrun's options; --batch-size is per process: the global batch is batch size x
processes). Under torchrun's --max-restarts, a restarted group resumes from checkpoints/last.pt
by itself."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan train``."""
    parser.add_argument(
        "data_dir", metavar="DATA_DIR", type=Path, help="folder of audio files (subfolders = classes)"
    )
    # --run-dir: the same option under a name torchrun's own parser cannot mistake for its --run-path
    parser.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        required=True,
        type=Path,
        metavar="DIR",
        help="run folder to write, e.g. runs/NAME",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="TOML",
        help="TOML file with [train] [data] [feature] [generator] [discriminator] [vocoder] sections",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (repeatable)",
    )
    parser.add_argument(
        "--generator", metavar="NAME", help="generator plugin (default lstm; see 'audiogan plugins')"
    )
    parser.add_argument("--discriminator", metavar="NAME", help="discriminator plugin (default lstm)")
    parser.add_argument("--steps", type=int, metavar="N", help="total training steps")
    parser.add_argument("--batch-size", type=int, metavar="B", help="sequences per batch")
    parser.add_argument("--seq-frames", type=int, metavar="T", help="frames per training crop")
    parser.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="score the EMA generator (window FD) every N "
        "steps and keep the best as checkpoints/best.pt (0 = off; default 1000)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        metavar="M",
        help="train for M minutes, then stop with a checkpoint (no step limit unless --steps or the "
        "config sets one: then whichever comes first); progress is shown in time",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for torch (1 is best on a busy CPU)"
    )
    parser.add_argument("--device", metavar="DEV", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--compile", action="store_true", default=None, help="torch.compile G and D")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last.pt")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar: print a status line every train.log_every steps instead (for log files)",
    )


def cli_overrides(args: argparse.Namespace) -> list[str]:
    """The named options as ``section.key=value`` strings, applied after ``--set`` (so they win)."""
    named = {
        "generator.name": args.generator,
        "discriminator.name": args.discriminator,
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.seq_frames": args.seq_frames,
        "train.device": args.device,
        "train.compile": args.compile,
        "train.max_minutes": args.minutes,
        "train.threads": args.threads,
        "train.eval_every": args.eval_every,
    }
    out = []
    for key, value in named.items():
        if value is None:
            continue
        text = (
            ("true" if value else "false")
            if isinstance(value, bool)
            else (f'"{value}"' if isinstance(value, str) else str(value))
        )
        out.append(f"{key}={text}")
    return out


def run(args: argparse.Namespace) -> int:
    """Resolve the configuration, train, and say where everything went."""
    from audiogan.config import load_toml
    from audiogan.errors import ConfigError
    from audiogan.training.config import UNLIMITED_STEPS
    from audiogan.training.distributed import from_env
    from audiogan.training.loop import train

    if args.resume and args.config is not None:
        raise ConfigError("--resume uses the run's own config; pass changes with --set, not --config")
    tree = load_toml(args.config) if args.config is not None else {}
    overrides = list(args.overrides) + cli_overrides(args)
    steps_set = (
        args.steps is not None
        or "steps" in (tree.get("train") or {})
        or any(item.strip().startswith("train.steps") for item in args.overrides)
    )
    if args.minutes is not None and not steps_set and not args.resume:
        # "--minutes 30" alone means the whole budget is time: no default step count cuts it short.
        overrides.append(f"train.steps={UNLIMITED_STEPS}")
    result = train(
        args.data_dir,
        args.run,
        tree,
        overrides=overrides,
        resume=args.resume,
        plugins=args.plugin,
        progress=not args.no_progress,
        announce=lambda text: print(text, flush=True),
    )
    if not from_env().main:  # under torchrun, rank 0 speaks for the group
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(
            f"interrupted at step {result.step}; checkpoint saved in {result.run_dir / 'checkpoints'}; "
            f"continue with: audiogan train {args.data_dir} --run {args.run} --resume"
        )
        print(f"see and hear it so far: {report_command(args.run, args.data_dir)}")
        return 130
    print(f"trained to step {result.step} ({result.skipped} skipped steps, {result.restores} restores)")
    print(f"run folder: {result.run_dir}  (final generator: {result.run_dir / 'generator.pt'})")
    best = best_line(result.run_dir)
    if best:
        print(best)
    if result.samples is not None:
        print(f"samples: {result.samples}")
    print(f"see and hear it: {report_command(args.run, args.data_dir)}")
    return 0


def best_line(run_dir: Path) -> str | None:
    """``best generator: step N (window FD x on held-out clips), used by generate by default``."""
    from audiogan.checkpoint import load_checkpoint
    from audiogan.errors import AudioganError

    path = Path(run_dir) / "checkpoints" / "best.pt"
    if not path.is_file():
        return None
    try:
        state = load_checkpoint(path, kind="checkpoint")
    except AudioganError:
        return None
    scores = state.get("eval") or {}
    where = "held-out clips" if scores.get("measured_on") == "held-out" else "training clips"
    fd = scores.get("window_fd")
    measure = f"window FD {fd:.2f} on {where}" if isinstance(fd, float) else f"measured on {where}"
    return (
        f"best generator: {path} (step {state.get('step')}, {measure}); generate, evaluate and export "
        "use it by default (--checkpoint last for the final one)"
    )


def report_command(run_dir: Path, data_dir: Path) -> str:
    """The command that writes the run's HTML report (``audiogan report``), quoted for a shell."""
    import shlex

    return f"audiogan report {shlex.quote(str(run_dir))} --data {shlex.quote(str(data_dir))}"
