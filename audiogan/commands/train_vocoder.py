"""``audiogan train-vocoder DATA_DIR --run runs/NAME``: train a neural vocoder on a folder of recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train a neural vocoder (default: istft) on a folder of audio, for a run"
ORDER = 25
DESCRIPTION = """Train a trainable vocoder plugin (default 'istft', a Vocos-like network) adversarially
on DATA_DIR, and save it as RUN/vocoder.pt, which 'audiogan generate RUN' then uses instead of
Griffin-Lim. When RUN holds a GAN run (generator.pt or checkpoints/), the vocoder is trained for
that run's features; otherwise RUN is created with features computed from DATA_DIR.

Training state lives in RUN/vocoder/ (config.toml, checkpoints/, metrics.jsonl, tensorboard/,
samples/). Settings: --set train.key=value (e.g. train.batch_size=16, train.warmup_steps=2000),
--set vocoder.key=value (e.g. vocoder.dim=256) and, for a new run, --set feature.key=value.
Ctrl-C saves a checkpoint and stops; --resume continues from RUN/vocoder/checkpoints/last.pt.

A saved vocoder is used elsewhere with: --vocoder istft --set vocoder.checkpoint=RUN/vocoder.pt"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan train-vocoder``."""
    parser.add_argument("data_dir", metavar="DATA_DIR", type=Path, help="folder of audio files")
    parser.add_argument("--run", required=True, type=Path, metavar="DIR", help="run folder, e.g. runs/NAME")
    parser.add_argument(
        "--config", type=Path, metavar="TOML", help="TOML file with [train] [vocoder] [feature] sections"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting (repeatable)",
    )
    parser.add_argument("--vocoder", metavar="NAME", help="trainable vocoder plugin (default istft)")
    parser.add_argument("--steps", type=int, metavar="N", help="total training steps")
    parser.add_argument("--batch-size", type=int, metavar="B", help="crops per batch")
    parser.add_argument("--device", metavar="DEV", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/vocoder/checkpoints/last.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_overrides(args: argparse.Namespace) -> list[str]:
    """The named options as ``section.key=value`` strings, applied after ``--set`` (so they win)."""
    named = {
        "vocoder.name": args.vocoder,
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.device": args.device,
    }
    return [
        f'{key}="{value}"' if isinstance(value, str) else f"{key}={value}"
        for key, value in named.items()
        if value is not None
    ]


def run(args: argparse.Namespace) -> int:
    """Resolve the configuration, train, and say where the vocoder went and how to use it."""
    from audiogan.config import load_toml
    from audiogan.errors import ConfigError
    from audiogan.vocoder.training import train_vocoder

    if args.resume and args.config is not None:
        raise ConfigError("--resume uses the run's own vocoder config; pass changes with --set, not --config")
    tree = load_toml(args.config) if args.config is not None else {}
    result = train_vocoder(
        args.data_dir,
        args.run,
        tree,
        overrides=list(args.overrides) + cli_overrides(args),
        resume=args.resume,
        plugins=args.plugin,
        progress=not args.no_progress,
    )
    vocoder_file = Path(args.run) / "vocoder.pt"
    if result.interrupted:
        print(
            f"interrupted at step {result.step}; checkpoint saved in {result.run_dir / 'checkpoints'}; "
            f"continue with: audiogan train-vocoder {args.data_dir} --run {args.run} --resume"
        )
        return 130
    mel = result.metrics.get("loss_mel")
    print(
        f"trained the vocoder to step {result.step} "
        f"({result.skipped} skipped steps, {result.restores} restores"
        + (f", mel L1 {mel:.3f}" if mel is not None else "")
        + ")"
    )
    print(f"vocoder: {vocoder_file}  (training state: {result.run_dir})")
    if result.samples is not None:
        print(f"resynthesised samples: {result.samples}")
    name = args.vocoder or "istft"
    print(
        f"use it: audiogan generate {args.run} ...  "
        f"or  --vocoder {name} --set vocoder.checkpoint={vocoder_file}"
    )
    return 0
