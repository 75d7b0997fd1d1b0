"""``audiogan demo``: the main job with no data of your own, in a few minutes on a CPU.

Synthesises a small labelled corpus (plucked notes, chirps, drum-like noise bursts), trains a
small recurrent GAN on it, writes generated WAVs per class with spectrogram PNGs, and writes the
run's HTML report (``audiogan report``), whose path is the last line printed.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

HELP = "synthesise a small corpus, train on it for a few minutes, write generated WAVs and a report page"
ORDER = 10
DESCRIPTION = """Run the whole product on a corpus made in code: three classes of 1-second sounds
(pluck, chirp, drums) are written to OUT/data, a small model trains on them (CPU-friendly sizes)
into OUT/run, OUT/samples gets generated WAVs per class plus spectrogram PNGs, and OUT/report.html
is the page to see and hear it all: generated clips beside real ones per class, the sound over
training, curves and settings (open it in any browser; its path is the last line printed).

Then try:  audiogan generate OUT/run --out more --label chirp --n 4  \
(or: audiogan train YOUR_FOLDER --run runs/NAME)"""


def demo_config(steps: int, minutes: float) -> dict[str, Any]:
    """The demo's training config: small sizes that learn visibly within minutes on 2 CPU cores."""
    return {
        "train": {
            "steps": steps,
            "max_minutes": minutes,
            "batch_size": 32,
            "seq_frames": 32,
            # Measured on this corpus (benchmarks/learning.py, 600 steps): lr 2e-4/4e-4 with feature
            # matching 1 reached window FD ~37; 5e-4/1e-3 with feature matching 10 reached ~10.
            "lr_g": 5e-4,
            "lr_d": 1e-3,
            "feature_matching": 10.0,
            "feature_spread": 10.0,  # keeps each class varied (the engine's default, written out)
            "log_every": 25,
            "checkpoint_every": 250,
            # For the report: a window-FD point every 250 steps (~0.3 s each) and listening samples
            # every 500, so the page shows how the sound changed; neither touches the training RNG.
            "eval_every": 250,
            "sample_every": 500,
            "sample_frames": 63,
        },
        "feature": {"n_mels": 64},
        "generator": {"name": "gru", "hidden_size": 128, "num_layers": 2, "latent_dim": 32, "noise_dim": 8},
        "discriminator": {"name": "gru", "hidden_size": 64, "num_layers": 1},
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan demo``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("audiogan-demo"),
        metavar="DIR",
        help="where the corpus, run folder and samples go (default ./audiogan-demo)",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--minutes", type=float, default=None, metavar="M", help="training time budget (default 4)"
    )
    budget.add_argument("--steps", type=int, default=None, metavar="N", help="train exactly N steps instead")
    parser.add_argument(
        "--per-class", type=int, default=4, metavar="K", help="WAVs to generate per class (default 4)"
    )
    parser.add_argument(
        "--clips",
        type=int,
        default=24,
        metavar="N",
        help="clips per class in the synthetic corpus (default 24)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="CPU threads (default 1: small models gain little from more, and a busy CPU "
        "makes extra threads much slower; 0 = torch's default)",
    )
    parser.add_argument(
        "--device", default="auto", metavar="DEV", help="auto, cpu, cuda or mps (default auto)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a training setting (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Write the corpus, train, generate, and print where everything is."""
    from audiogan.data.synthetic import write_corpus
    from audiogan.errors import ConfigError
    from audiogan.evaluation.report import write_report
    from audiogan.generation.generate import load, write_clips
    from audiogan.training.config import UNLIMITED_STEPS
    from audiogan.training.loop import train

    out: Path = args.out
    if args.per_class < 1:
        raise ConfigError(f"--per-class={args.per_class} must be >= 1")
    if args.clips < 1:
        raise ConfigError(f"--clips={args.clips} must be >= 1")
    if args.steps is not None and args.steps < 1:
        raise ConfigError(f"--steps={args.steps} must be >= 1")
    if args.minutes is not None and not args.minutes > 0:
        raise ConfigError(f"--minutes={args.minutes} must be > 0")
    if (out / "run").exists() and any((out / "run").iterdir()):
        raise ConfigError(f"{out / 'run'} already exists; pass another --out or remove it")
    steps, minutes = (args.steps, 0.0) if args.steps is not None else (UNLIMITED_STEPS, args.minutes or 4.0)
    data = out / "data"
    if not data.is_dir():
        print(f"writing a synthetic corpus (pluck, chirp, drums) to {data}")
        write_corpus(data, per_class=args.clips, seconds=1.0, seed=0)
    budget = f"{steps} steps" if args.steps is not None else f"{minutes:g} minutes"
    print(f"training a small recurrent GAN for {budget} into {out / 'run'} (Ctrl-C stops early and keeps it)")
    overrides = [f'train.device="{args.device}"', f"train.threads={args.threads}", *args.overrides]
    result = train(
        data,
        out / "run",
        demo_config(steps, minutes),
        overrides=overrides,
        plugins=args.plugin,
        progress=not args.no_progress,
        announce=lambda text: print(text, flush=True),
    )
    synth = load(out / "run", device=args.device if args.device != "auto" else None, plugins=args.plugin)
    requests = [r for name in synth.class_names for r in synth.requests(args.per_class, name, seed=0)]
    with warnings.catch_warnings(record=True) as caught:  # shown as one line each, below
        warnings.simplefilter("always")
        clips = synth.render(requests)  # learned lengths for a whole-sound run, else 1 s
    for warning in caught:
        print(f"audiogan: warning: {warning.message}")
    manifest = write_clips(
        synth,
        clips,
        out / "samples",
        force=True,
        plot=True,
        options={"source": "audiogan demo", "step": result.step},
    )
    print(f"trained {result.step} steps; run folder: {out / 'run'}")
    print(f"generated {len(clips)} WAVs with spectrogram PNGs in {manifest.parent}")
    print(f"real examples for comparison: {data}")
    device = args.device if args.device != "auto" else None
    report = write_report(out / "run", out / "report.html", data, device=device, plugins=args.plugin)
    print(f"see and hear it, in any browser ({report.bytes / 2**20:.1f} MB page):")
    print(report.path.resolve())
    return 130 if result.interrupted else 0
