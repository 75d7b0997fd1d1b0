"""``audiogan resynth``: copy-synthesis (audio -> log-mel -> vocoder -> audio) to judge a vocoder alone."""

from __future__ import annotations

import argparse

HELP = "resynthesise audio files through a vocoder (copy-synthesis)"
ORDER = 35
DESCRIPTION = """Turn each file into log-mel with the run's FeatureConfig (or the default one, adjusted
with --set feature.KEY=VALUE, when no --run is given) and back into audio with a vocoder, to hear
what the vocoder alone does to real audio. Writes <name>.<vocoder>.wav per file and manifest.json
with each file's log-mel L1 distance to its input.

examples:
  audiogan resynth a.wav b.wav --out resynth --run runs/digits
  audiogan resynth a.wav --out gl64 --vocoder griffinlim --set vocoder.n_iter=64 \
--set feature.sample_rate=8000
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan resynth``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--run", metavar="RUN_OR_GENERATOR_FILE", help="use this run's FeatureConfig (and vocoder.pt)"
    )
    parser.add_argument(
        "--vocoder",
        metavar="NAME_OR_FILE",
        help="vocoder name or vocoder.pt (default: the run's, else griffinlim)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="vocoder.KEY=VALUE, or feature.KEY=VALUE without --run (repeatable)",
    )
    parser.add_argument("--device", help="cpu, cuda ... (default: cuda when available)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")


def run(args: argparse.Namespace) -> int:
    """Resynthesise and print one line per file."""
    from audiogan.config import apply_overrides
    from audiogan.errors import ConfigError
    from audiogan.generation.resynth import resynthesize

    tree = apply_overrides({}, args.set)
    other = sorted(set(tree) - {"vocoder", "feature"})
    if other:
        raise ConfigError(f"--set {other[0]}.…: only vocoder.KEY=VALUE and feature.KEY=VALUE apply here")
    for section in ("vocoder", "feature"):
        if not isinstance(tree.get(section, {}), dict):
            raise ConfigError(f"--set {section}=…: expected {section}.KEY=VALUE")
    if "feature" in tree and args.run:
        raise ConfigError("--set feature.…: the run's FeatureConfig is fixed; drop --run to choose features")
    results = resynthesize(
        args.files,
        args.out,
        args.run,
        args.vocoder,
        tree.get("vocoder"),
        tree.get("feature"),
        args.plugin,
        args.device,
        args.force,
    )
    for r in results:
        print(f"{r['input']} -> {r['file']} (log-mel L1 {r['mel_l1']:.3f})")
    return 0
