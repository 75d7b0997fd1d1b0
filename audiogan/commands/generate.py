"""``audiogan generate``: write clips from a trained run as audio files plus a manifest."""

from __future__ import annotations

import argparse
import warnings

HELP = "generate audio clips from a trained run (WAV/FLAC + manifest.json)"
ORDER = 30
DESCRIPTION = """Generate clips from a run folder (or its generator.pt) into --out.

Clip k of --seed S uses seed S+k, so the same options give bit-identical files on the same
device, and '--seed 7 --n 1' regenerates clip 2 of '--seed 5 --n 3'. Files are named
label-<name>_seed-<seed>_<index>.wav; manifest.json lists each one with its seed, label,
length, vocoder and the run. Existing files are never overwritten without --force.

By default the run's best generator generates: checkpoints/best.pt, the EMA generator with the
best in-training window FD, measured on clips held out from training (a GAN can peak and then
drift). A run without best.pt uses its generator.pt (the EMA generator at the end of training).
--checkpoint picks another: last (the final state), step-XXXXXX (the kept steps) or a file. The
choice is printed and recorded in manifest.json.

examples:
  audiogan generate runs/demo --out out --n 4 --seconds 3
  audiogan generate runs/digits --out out --per-label 2 --vocoder griffinlim --set vocoder.n_iter=64
  audiogan generate runs/digits --out walk --label 3 --interpolate 1,2 --steps 8
  audiogan generate runs/digits --out morph --label-interpolate 3,8 --steps 8
  audiogan generate runs/digits --out best --per-label 2 --checkpoint best
"""


def _pair(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected A,B, got {text!r}")
    return parts[0], parts[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan generate``."""
    parser.add_argument("run", metavar="RUN_OR_GENERATOR_FILE", help="run folder or its generator.pt")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--checkpoint",
        metavar="NAME_OR_FILE",
        help="the training checkpoint whose EMA generator generates: best, last (the final one), "
        "step-012000 or a checkpoint file (default: best when the run kept checkpoints/best.pt, "
        "chosen on held-out clips; else the run's generator.pt)",
    )
    parser.add_argument("--n", type=int, default=1, help="clips per label (default 1)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="length of each clip in seconds, any length. Default: a whole-sound run (data.mode=whole) "
        "gives each clip its own learned length; a crop-mode run makes 2 s. Forced on a whole-sound "
        "run, a shorter sound is followed by silence and a longer one is cut with the --fade-out fade",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help="class to generate (repeatable); default: each clip's seed picks one",
    )
    parser.add_argument("--per-label", type=int, metavar="N", help="N clips of every class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first clip (default 0)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips vocoded together (default 16)")
    parser.add_argument(
        "--truncation", type=float, metavar="T", help="draw z from a normal truncated to [-T, T]"
    )
    parser.add_argument(
        "--vocoder",
        metavar="NAME_OR_FILE",
        help="vocoder name or vocoder.pt (default: the run's vocoder.pt, else griffinlim)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="vocoder.KEY=VALUE",
        help="vocoder setting, e.g. --set vocoder.n_iter=64 (repeatable)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument("--format", default="wav", choices=["wav", "flac"], help="audio format (default wav)")
    parser.add_argument(
        "--subtype",
        default="PCM_16",
        choices=["PCM_16", "PCM_24", "FLOAT"],
        help="sample format (default PCM_16)",
    )
    parser.add_argument(
        "--headroom", type=float, default=-1.0, metavar="DB", help="peak level in dBFS (default -1)"
    )
    parser.add_argument(
        "--max-gain",
        type=float,
        default=40.0,
        metavar="DB",
        help="raise no clip by more than DB when normalising, so a nearly silent clip is not "
        "blown up to full scale (default 40)",
    )
    parser.add_argument(
        "--no-normalise", action="store_true", help="keep the vocoder's level (no peak normalisation)"
    )
    parser.add_argument(
        "--trim-silence",
        type=float,
        metavar="DB",
        help="cut leading/trailing audio more than DB below the clip's loudest part",
    )
    parser.add_argument(
        "--fade-out",
        type=float,
        default=20.0,
        metavar="MS",
        help="fade the last MS milliseconds of every clip to silence, so a clip cut at --seconds "
        "does not end in a click (default 20; 0 = none)",
    )
    parser.add_argument("--plot", action="store_true", help="write a spectrogram PNG beside each clip")
    parser.add_argument(
        "--interpolate", type=_pair, metavar="A,B", help="walk from seed A to seed B (slerp of z)"
    )
    parser.add_argument(
        "--label-interpolate",
        type=_pair,
        metavar="A,B",
        help="walk from class A to class B (label embedding)",
    )
    parser.add_argument("--steps", type=int, default=8, help="clips in an interpolation (default 8)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files in --out")


def vocoder_settings(assignments: list[str]) -> dict:
    """``--set vocoder.key=value`` strings -> the vocoder's config dict (other sections refused)."""
    from audiogan.config import apply_overrides
    from audiogan.errors import ConfigError

    tree = apply_overrides({}, assignments)
    other = sorted(set(tree) - {"vocoder"})
    if other:
        raise ConfigError(f"--set {other[0]}.…: only vocoder.KEY=VALUE settings apply here")
    section = tree.get("vocoder", {})
    if not isinstance(section, dict):
        raise ConfigError("--set vocoder=...: expected vocoder.KEY=VALUE")
    return section


def run(args: argparse.Namespace) -> int:
    """Generate and write the clips; print one line per file written."""
    from audiogan.errors import ConfigError
    from audiogan.generation.generate import (
        describe_generator,
        interpolation,
        label_interpolation,
        load,
        plan,
        write_clips,
    )

    if args.interpolate and args.label_interpolate:
        raise ConfigError("--interpolate and --label-interpolate cannot be combined")
    if args.format == "flac" and args.subtype == "FLOAT":
        raise ConfigError("--subtype FLOAT cannot be written as FLAC; use PCM_16 or PCM_24")
    for key in ("n", "steps", "batch_size"):
        if getattr(args, key) < 1:
            raise ConfigError(f"--{key.replace('_', '-')} {getattr(args, key)} must be >= 1")
    if not (args.headroom <= 0.0):  # also refuses nan; above 0 dBFS the PCM file would clip
        raise ConfigError(f"--headroom {args.headroom}: must be <= 0 dBFS (a peak above full scale clips)")
    if not (0.0 <= args.max_gain < float("inf")):  # also refuses nan
        raise ConfigError(f"--max-gain {args.max_gain}: must be a finite number >= 0 dB")
    if not 0 <= args.fade_out < float("inf"):
        raise ConfigError(f"--fade-out {args.fade_out}: must be a finite number of milliseconds >= 0")
    if args.per_label is not None and (args.label or args.per_label < 1):
        raise ConfigError("--per-label N needs N >= 1 and no --label")
    synth = load(
        args.run,
        device=args.device,
        vocoder=args.vocoder,
        vocoder_config=vocoder_settings(args.set),
        plugins=args.plugin,
        headroom_db=args.headroom,
        max_gain_db=args.max_gain,
        checkpoint=args.checkpoint,
    )
    print(describe_generator(synth))
    if args.interpolate:
        try:
            a, b = (int(x) for x in args.interpolate)
        except ValueError:
            raise ConfigError(
                f"--interpolate {','.join(args.interpolate)}: expected two integer seeds"
            ) from None
        if len(args.label) > 1:
            raise ConfigError("--interpolate takes at most one --label")
        requests = interpolation(
            synth, a, b, args.steps, args.label[0] if args.label else None, args.truncation
        )
    elif args.label_interpolate:
        requests = label_interpolation(synth, *args.label_interpolate, args.steps, args.seed)
    else:
        requests = plan(synth, args.n, args.label, args.per_label, args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = synth.render(
            requests,
            args.seconds if args.seconds is not None or synth.sound is not None else 2.0,
            args.batch_size,
            args.truncation,
            normalise=not args.no_normalise,
            trim_db=args.trim_silence,
            fade_out_ms=args.fade_out,
        )
    options = {
        k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("debug", "strict", "force")
    }
    manifest = write_clips(synth, clips, args.out, args.format, args.subtype, args.force, args.plot, options)
    for warning in caught:
        print(f"audiogan: warning: {warning.message}")
    print(f"wrote {len(clips)} clip(s) ({synth.vocoder_name}, {synth.sample_rate} Hz) and {manifest}")
    return 0
