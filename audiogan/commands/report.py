"""``audiogan report RUN``: one HTML page to see and hear a run (clips, curves, settings)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write one HTML page to see and hear a run: clips per class beside real ones, curves, settings"
ORDER = 45
DESCRIPTION = """\
Write one self-contained HTML page about a run folder, to open offline in any browser (no
server, no network: audio and pictures are embedded in the file).

The page shows, per class, generated clips side by side with real clips from the data folder and
one real clip copied through the vocoder (so you can tell whether the vocoder is the weak link),
each with an audio player and a spectrogram; the training samples over time; the training curves
(losses, skipped steps, learning rates, in-training window FD with the best step marked); the
latest 'audiogan evaluate' table when there is one; the run's settings and data summary; and the
exact commands that regenerate every clip. What the run folder lacks (no metrics yet, no samples,
a data folder that moved) is listed at the top of the page.

The real clips come from --data, or from the folder training recorded in RUN/data.json. The page
is a few MB for a 10-class run at the default --per-label 2; --per-label scales it.

examples:
  audiogan report runs/mysounds                        # writes runs/mysounds/report.html
  audiogan report runs/mysounds --data recordings/ --per-label 4 --out mysounds.html
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan report``."""
    from audiogan.evaluation.report import DEFAULT_PER_LABEL, MAX_SECONDS

    parser.add_argument("run", metavar="RUN", type=Path, help="run folder (as written by 'audiogan train')")
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="real recordings to compare with (default: the data folder the run recorded, if still there)",
    )
    parser.add_argument(
        "--out", metavar="FILE.html", type=Path, help="the page to write (default RUN/report.html)"
    )
    parser.add_argument(
        "--per-label",
        type=int,
        default=DEFAULT_PER_LABEL,
        metavar="N",
        help=f"generated and real clips per class (default {DEFAULT_PER_LABEL}; the page grows with N)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        metavar="S",
        help=f"length of generated clips (default: the class's median real length, at most {MAX_SECONDS:g})",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of each class's first clip")
    parser.add_argument(
        "--vocoder",
        metavar="NAME_OR_FILE",
        help="vocoder name or vocoder.pt (default: the run's vocoder.pt, else griffinlim)",
    )
    parser.add_argument("--device", metavar="DEV", help="cpu, cuda, ... (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    """Write the page; print its path, size and what it says is missing."""
    from audiogan.errors import ConfigError
    from audiogan.evaluation.report import write_report

    if args.per_label < 1:
        raise ConfigError(f"--per-label {args.per_label}: must be >= 1")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be >= 0")
    if args.seconds is not None and not 0 < args.seconds <= 600:
        raise ConfigError(f"--seconds {args.seconds}: must be > 0 and at most 600")
    if args.out is not None and args.out.is_dir():
        raise ConfigError(
            f"--out {args.out} is a folder; give the page's file name, e.g. {args.out}/report.html"
        )
    report = write_report(
        args.run,
        out=args.out,
        data_dir=args.data,
        per_label=args.per_label,
        seconds=args.seconds,
        seed=args.seed,
        vocoder=args.vocoder,
        device=args.device,
        plugins=args.plugin,
    )
    for line in report.missing:
        print(f"note: {line}")
    size = report.bytes / 2**20
    print(f"report: {report.path} ({size:.1f} MB, {report.clips} clips, {len(report.classes)} classes)")
    return 0
