"""``audiogan export``: the EMA generator (+ a trained vocoder) as a file that runs without audiogan."""

from __future__ import annotations

import argparse

HELP = "export a run's generator (and trained vocoder) as TorchScript or ONNX"
ORDER = 60
DESCRIPTION = """Export the EMA generator of a run (and its vocoder, where the format can express it).

torchscript: one file that loads with torch.jit.load, without audiogan installed. The module has
start(z, labels) and step(z, labels, *state) making --chunk-frames frames per call with explicit
state tensors, to_log_mel(frames), and vocode(log_mel) when a neural vocoder was exported; its
metadata (sample rate, labels, latent size...) is the extra file 'audiogan.json'.

onnx (needs the onnx package; onnxruntime, when installed, checks the result against torch):
OUT (start), OUT.step.onnx and, where ONNX can express the vocoder, OUT.vocoder.onnx, for
onnxruntime alone. The per-frame noise is an input (noise_0 ...), so the host owns all
randomness; the metadata (model.metadata_props["audiogan"]) says the rest. docs/onnx_player.py
generates a WAV from them with onnxruntime, numpy and soundfile.

examples:
  audiogan export runs/digits --format torchscript --out digits.ts
  audiogan export runs/digits --format onnx --out digits.onnx
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
    parser.add_argument(
        "--checkpoint",
        metavar="NAME_OR_FILE",
        help="the training checkpoint whose EMA generator is exported: best, last (the final one), "
        "step-012000 or a file (default: best when the run has checkpoints/best.pt, else generator.pt)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out")


def run(args: argparse.Namespace) -> int:
    """Export and print what was written."""
    from audiogan.generation.export import export

    meta = export(
        args.run,
        args.out,
        args.format,
        args.chunk_frames,
        args.force,
        tuple(args.plugin),
        args.vocoder,
        checkpoint=args.checkpoint,
    )
    what = f"generator {meta.get('generator')!r}" + (
        f" + vocoder {meta['vocoder']!r}" if meta.get("vocoder") else ""
    )
    files = ", ".join(meta.get("paths", [str(args.out)]))
    chosen = meta.get("checkpoint") or {}
    if chosen.get("file"):
        print(f"generator: {chosen['file']} (step {chosen.get('step')}, EMA)")
    print(f"wrote {files} ({args.format}: {what}, {meta['chunk_frames']} frames per call)")
    if args.format == "onnx":
        if meta.get("checked") is not None:
            print(f"checked with onnxruntime: within {meta['checked']:.1e} of torch (relative to the peak)")
        if meta.get("vocoder_left_out"):
            print(meta["vocoder_left_out"])
        print(f"play it without torch: python docs/onnx_player.py {args.out} --seconds 3 --out clip.wav")
    return 0
