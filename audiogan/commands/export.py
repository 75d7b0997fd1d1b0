"""``audiogan export``: the EMA generator (+ a trained vocoder) as a file that runs without audiogan."""

from __future__ import annotations

import argparse

HELP = "export a run's generator (and trained vocoder) as TorchScript or ONNX"
ORDER = 60
DESCRIPTION = """Export the EMA generator of a run (and its trained vocoder.pt, when present) as a
TorchScript file that loads with torch.jit.load, without audiogan installed. The module has
start(z, labels) and step(z, labels, *state) making --chunk-frames frames per call with explicit
state tensors, to_log_mel(frames), and vocode(log_mel) when a neural vocoder was exported; its
metadata (sample rate, labels, latent size...) is the extra file 'audiogan.json'.

example:
  audiogan export runs/digits --format torchscript --out digits.ts
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``audiogan export``."""
    parser.add_argument("run", metavar="RUN_OR_GENERATOR_FILE", help="run folder or its generator.pt")
    parser.add_argument("--out", required=True, metavar="FILE", help="file to write")
    parser.add_argument(
        "--format", default="torchscript", choices=["torchscript", "onnx"], help="default torchscript"
    )
    parser.add_argument(
        "--chunk-frames", type=int, default=32, help="frames per start/step call (default 32)"
    )
    parser.add_argument(
        "--vocoder", metavar="NAME_OR_FILE", help="vocoder to include (default: the run's vocoder.pt if any)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out")


def run(args: argparse.Namespace) -> int:
    """Export and print what was written."""
    from audiogan.generation.export import export

    meta = export(
        args.run, args.out, args.format, args.chunk_frames, args.force, tuple(args.plugin), args.vocoder
    )
    what = f"generator {meta.get('generator')!r}" + (
        f" + vocoder {meta['vocoder']!r}" if meta.get("vocoder") else ""
    )
    print(f"wrote {args.out} ({args.format}: {what}, {meta['chunk_frames']} frames per call)")
    return 0
