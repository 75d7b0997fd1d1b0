"""``audiogan evaluate``: score a run's output against a real folder, with a floor and a naive reference."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "compare generated audio with a real folder (window FD, NDB, classifier accuracy, IS, diversity)"
ORDER = 40
DESCRIPTION = """\
Compare a run's generated audio with a folder of real recordings, on the run's own log-mel features.

The real folder is split in two halves: one is the reference every set is scored against, the
other is scored like the generated clips (the "real" column: the floor sampling noise gives).
A third column scores frames drawn i.i.d. from a Gaussian fitted to the real frames: it matches
spectral colour but has no temporal structure, so a model that learnt anything about time beats
it on the window Frechet distance (the headline). Levels are matched (active RMS) first. When RUN
is a run folder, the result is also kept as RUN/evaluation.json, which 'audiogan report' shows.

examples:
  audiogan evaluate runs/digits --data test_digits/
  audiogan evaluate runs/digits --data test_digits/ --n 50 --json --plot eval.png
  audiogan evaluate runs/digits --data test_digits/ --checkpoint best    # best.pt's EMA generator
  audiogan evaluate --generated my_wavs/ --data real_wavs/      # any folder against any folder
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan evaluate``."""
    parser.add_argument(
        "run", nargs="?", metavar="RUN", help="run folder or generator.pt (optional with --generated)"
    )
    parser.add_argument(
        "--data", required=True, metavar="DATA_DIR", help="folder of real recordings to compare with"
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        metavar="N",
        help="clips to generate per label (default: as many as the held-out real half has)",
    )
    parser.add_argument(
        "--generated",
        metavar="DIR",
        help="score these audio files instead of generating "
        "(labels from DIR/<label>/ subfolders or <label>_ file-name prefixes)",
    )
    parser.add_argument("--window", type=int, default=8, metavar="K", help="frames per window (default 8)")
    parser.add_argument(
        "--pca-dim", type=int, default=64, metavar="D", help="PCA components for window vectors (default 64)"
    )
    parser.add_argument(
        "--ndb-bins", type=int, default=20, metavar="K", help="k-means bins for NDB (default 20)"
    )
    parser.add_argument(
        "--level",
        choices=("rms", "none"),
        default="rms",
        help="match every clip's active RMS before features (default rms)",
    )
    parser.add_argument(
        "--mel-space",
        choices=("audio", "generator"),
        default="audio",
        help="score vocoded audio (default) or the generator's frames before the vocoder",
    )
    parser.add_argument(
        "--vocoder",
        metavar="NAME_OR_FILE",
        help="vocoder name or vocoder.pt (default: the run's vocoder.pt if any, else griffinlim)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="NAME_OR_FILE",
        help="generate with this training checkpoint's EMA generator: best, last (the final one), "
        "step-012000 or a file (default: best when the run has checkpoints/best.pt, else generator.pt)",
    )
    parser.add_argument(
        "--device", metavar="DEV", help="device for generation (default: cuda when available)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed for splits, sampling, k-means")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--output", metavar="FILE", help="also write the JSON result to FILE")
    parser.add_argument(
        "--plot", metavar="PNG", help="write a PNG comparing real and generated mel statistics"
    )


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print the table or JSON."""
    from audiogan.errors import ConfigError
    from audiogan.evaluation.evaluate import evaluate, format_table
    from audiogan.evaluation.report import EVALUATION_FILE, is_run_folder
    from audiogan.fileio import write_text_atomic

    if args.run is None and args.generated is None:
        raise ConfigError("give a RUN folder, or --generated DIR to score a folder of audio")
    if args.n is not None and args.n < 1:
        raise ConfigError(f"--n {args.n}: must be >= 1")
    # Checked here: 0 reached the metrics as a ZeroDivisionError / ValueError traceback.
    for option, value, low in (
        ("--window", args.window, 1),
        ("--pca-dim", args.pca_dim, 1),
        ("--ndb-bins", args.ndb_bins, 2),
    ):
        if value < low:
            raise ConfigError(f"{option} {value}: must be >= {low}")
    result = evaluate(
        args.run,
        args.data,
        n_per_label=args.n,
        generated_dir=args.generated,
        k=args.window,
        seed=args.seed,
        pca_dim=args.pca_dim,
        ndb_bins=args.ndb_bins,
        level=args.level,
        mel_space=args.mel_space,
        plot=args.plot,
        vocoder=args.vocoder,
        plugins=args.plugin,
        device=args.device,
        checkpoint=args.checkpoint,
    )
    text = json.dumps(result, indent=2, allow_nan=False, default=_plain)
    if args.output:
        write_text_atomic(Path(args.output), text + "\n")
    if args.generated is None and is_run_folder(args.run):  # the latest result, for 'audiogan report'
        try:
            write_text_atomic(Path(args.run) / EVALUATION_FILE, text + "\n")
        except OSError as exc:
            print(
                f"audiogan: warning: could not keep the result in {Path(args.run) / EVALUATION_FILE}: {exc}"
            )
    print(text if args.json else format_table(result))
    return 0


def _plain(value: object) -> object:
    """numpy scalars -> Python numbers for JSON."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
