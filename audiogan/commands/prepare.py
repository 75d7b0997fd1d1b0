"""``audiogan prepare``: scan a data folder, build or refresh its feature cache, print a summary."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "scan a folder of recordings and build (or refresh) its log-mel feature cache"
ORDER = 10
DESCRIPTION = """\
Scan DATA_DIR for audio (WAV, FLAC, OGG/Vorbis, AIFF, MP3 where libsndfile reads it), decode
every file once (mono, resampled to --sample-rate), compute log-mel features and store them in a
memory-mapped cache that training reads. Running it again only decodes files that were added or
changed (by size and modification time); a cache hit takes a fraction of a second. Training
builds the cache itself when needed, so this command is optional: use it to check a folder.

Layout: files in first-level subfolders are labelled by the subfolder name (DATA_DIR/dog/a.wav
has class "dog"); with no subfolders every file is unlabelled. Files directly in DATA_DIR next to
class subfolders have no label and are skipped. Hidden files and folders are ignored, and
symlinks are followed only while they stay inside DATA_DIR. Broken, empty, non-audio and too-short
files are skipped and listed by reason.

The cache lives in DATA_DIR/.audiogan-cache/ (or --cache-dir; a read-only DATA_DIR falls back to
~/.cache/audiogan/), one subfolder per feature layout, so changing --n-mels etc. keeps the old one.

Files of any length are read in blocks (bounded memory). Long takes can be cut into sound
events with --split: each event becomes a clip with its file's label, found on the cached frames
(so trying other split settings decodes nothing again). The listing (file, start, end, label)
goes to --listing (default: events.csv in the cache folder); --export-slices DIR writes every
event as a WAV to listen to. Train on the same events with --set data.split=auto (and the
matching data.split_* settings).

examples:
  audiogan prepare recordings/
  audiogan prepare recordings/ --sample-rate 22050 --n-mels 64 --workers 4
  audiogan prepare /read-only/corpus --cache-dir ~/.cache/audiogan
  audiogan prepare recordings/ --set feature.f_max=7600
  audiogan prepare takes/ --split                       # auto: onsets on drum takes, pauses on speech
  audiogan prepare drums/ --split onset --split-delta 0.03   # force onset cuts, at weaker onsets too
  audiogan prepare speech/ --split silence --split-gap 0.25 --export-slices slices/
"""

SHOW_NAMES = 3  # skipped files named per reason in the summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan prepare``."""
    from audiogan.data.dataset import DEFAULT_MIN_SECONDS

    parser.add_argument(
        "data_dir", metavar="DATA_DIR", help="folder of recordings (class subfolders optional)"
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where to keep the feature cache "
        "(default: DATA_DIR/.audiogan-cache, or ~/.cache/audiogan when DATA_DIR is read-only)",
    )
    feats = parser.add_argument_group(
        "features (must match what training uses; defaults are FeatureConfig's)"
    )
    feats.add_argument(
        "--sample-rate", type=int, metavar="HZ", help="resample every file to HZ (default 16000)"
    )
    feats.add_argument("--n-mels", type=int, metavar="N", help="mel bins per frame (default 80)")
    feats.add_argument("--hop-length", type=int, metavar="N", help="samples between frames (default 256)")
    feats.add_argument("--n-fft", type=int, metavar="N", help="STFT size in samples (default 1024)")
    feats.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="feature.KEY=VALUE",
        help="set any FeatureConfig field, e.g. feature.f_max=7600 or feature.win_length=800 "
        "(repeatable; applied after the options above)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="decoding processes (default: CPU cores, at most 8)"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=DEFAULT_MIN_SECONDS,
        metavar="S",
        help=f"skip files shorter than S seconds (default {DEFAULT_MIN_SECONDS:g})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    cut = parser.add_argument_group("cutting takes into sound events")
    cut.add_argument(
        "--split",
        nargs="?",
        const="auto",
        choices=["auto", "onset", "silence"],
        help="cut every file into events: 'auto' (default: 'onset' on a percussive take, else "
        "'silence' with --split-gap 0.25 at least), 'onset' (runs of sound also cut at onsets) or "
        "'silence' (runs of sound only)",
    )
    cut.add_argument(
        "--split-db", type=float, metavar="DB", help="silence threshold below the loudest frame (40)"
    )
    cut.add_argument("--split-min", type=float, metavar="S", help="drop events shorter than S seconds (0.05)")
    cut.add_argument("--split-max", type=float, metavar="S", help="cut events longer than S seconds (10)")
    cut.add_argument(
        "--split-pad", type=float, metavar="S", help="seconds kept before each onset and after (0.03)"
    )
    cut.add_argument(
        "--split-gap",
        type=float,
        metavar="S",
        help="sounds closer than S seconds are one event (0; 'auto' on speech: 0.25 at least)",
    )
    cut.add_argument(
        "--split-delta",
        type=float,
        metavar="D",
        help="'onset' (and 'auto' on percussive takes): how strong an onset must be to cut (0.07)",
    )
    cut.add_argument("--listing", metavar="FILE", help="where the event listing goes (CSV)")
    cut.add_argument(
        "--export-slices", metavar="DIR", help="write every event as a WAV into DIR (a new folder)"
    )


def split_settings_from_args(args: argparse.Namespace) -> Any:
    """The SplitSettings the --split options ask for, or None without --split."""
    from audiogan.data.split import SplitSettings
    from audiogan.errors import ConfigError

    given = {
        "top_db": args.split_db,
        "min_seconds": args.split_min,
        "max_seconds": args.split_max,
        "pad_seconds": args.split_pad,
        "gap_seconds": args.split_gap,
        "onset_delta": args.split_delta,
    }
    given = {key: value for key, value in given.items() if value is not None}
    if args.split is None:
        if given or args.export_slices or args.listing:
            raise ConfigError("--split-*, --listing and --export-slices need --split")
        return None
    flags = {
        "top_db": "--split-db",
        "min_seconds": "--split-min",
        "max_seconds": "--split-max",
        "pad_seconds": "--split-pad",
        "gap_seconds": "--split-gap",
        "onset_delta": "--split-delta",
    }
    try:
        return SplitSettings(method=args.split, **given)
    except ConfigError as exc:  # name the flag the user typed, not the setting behind it
        message = str(exc)
        for key, flag in flags.items():
            message = message.replace(f"data.split_{key.replace('top_db', 'db')}", flag)
        raise ConfigError(message) from None


def feature_config_from_args(args: argparse.Namespace) -> Any:
    """The FeatureConfig that the options ask for (flags first, then ``--set feature.*``)."""
    from audiogan.config import FeatureConfig, apply_overrides
    from audiogan.errors import ConfigError

    section: dict[str, Any] = {}
    for flag, key in (
        ("sample_rate", "sample_rate"),
        ("n_mels", "n_mels"),
        ("hop_length", "hop_length"),
        ("n_fft", "n_fft"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            section[key] = value
    for item in args.set:
        if not item.strip().startswith("feature."):
            raise ConfigError(f"--set {item!r}: prepare only takes feature.KEY=VALUE settings")
    tree = apply_overrides({"feature": section}, args.set)
    return FeatureConfig.from_dict(tree["feature"])


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GiB"


def summary(ds: Any) -> str:
    """The human-readable report printed by ``audiogan prepare``: the dataset's own description
    (:meth:`~audiogan.data.dataset.FeatureSet.describe`, which training prints too) plus the cache."""
    from audiogan.data.whole import describe_auto

    lines = ds.describe(show=SHOW_NAMES)
    lines.insert(1, f"cache:       {ds.cache_dir} ({_size(ds.build.get('cache_bytes', 0))})")
    lines.extend(describe_auto(ds))
    how = (
        "cache was up to date"
        if ds.build.get("cache_hit")
        else f"decoded {ds.build.get('decoded', 0)}, "
        f"reused {ds.build.get('reused', 0)} from the previous cache"
    )
    lines.append(f"time:        {ds.build.get('seconds', 0.0):.2f} s ({how})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Build or refresh the cache and print the summary."""
    from audiogan.data.dataset import load_dataset
    from audiogan.errors import ConfigError

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be >= 1")
    if args.min_seconds < 0:
        raise ConfigError(f"--min-seconds {args.min_seconds}: must be >= 0")
    fc = feature_config_from_args(args)
    split = split_settings_from_args(args)
    ds = load_dataset(
        args.data_dir,
        fc,
        cache_dir=args.cache_dir,
        workers=args.workers,
        progress=not args.quiet,
        min_seconds=args.min_seconds,
        split=split,
    )
    print(summary(ds))
    if split is not None:
        from pathlib import Path

        from audiogan.data.slices import export_slices, write_listing

        listing = Path(args.listing) if args.listing else Path(ds.cache_dir) / "events.csv"
        write_listing(ds, listing)
        takes = len(set(ds.files))
        print(f"events:      {len(ds)} from {takes} file(s) ({split.method}, {split.top_db:g} dB)")
        print(f"listing:     {listing}")
        for rel, start, end, label in ds.events()[:SHOW_NAMES]:
            print(f"  {rel} {start:.2f}-{end:.2f} s" + (f" [{label}]" if label else ""))
        if args.export_slices:
            written = export_slices(ds, Path(args.export_slices), progress=not args.quiet)
            print(f"slices:      {written} WAVs in {args.export_slices}")
    return 0
