"""Resampling speed: :class:`audiogan.data.resample.BandedResampler` vs torchaudio's ``Resample``.

    python -m benchmarks.resample [--seconds 60] [--repeat 5] [--threads 1]

For common source rates to 16 kHz (and two others), both resample the same ``--seconds`` of
noise; the table gives each one's median time, the ratio (measured in this one run) and the
largest difference between their outputs. One torch thread by default, as ``prepare`` runs with
``OMP_NUM_THREADS=1`` per worker.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchaudio

from audiogan.data.resample import BandedResampler

PAIRS = [(44100, 16000), (48000, 16000), (22050, 16000), (96000, 16000), (8000, 16000), (44100, 22050)]


def median_seconds(call, wave: torch.Tensor, repeat: int) -> float:
    """Median wall time of ``call(wave)`` over ``repeat`` runs, after one untimed run."""
    call(wave)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call(wave)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Time both resamplers on every rate pair and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per call (default 60)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    print(f"{args.seconds:g} s of noise per call, median of {args.repeat}, torch threads {args.threads}")
    print()
    print("| rates | torchaudio ms | banded ms | speed-up | max abs diff |")
    print("|---|---:|---:|---:|---:|")
    with torch.inference_mode():
        for orig, new in PAIRS:
            wave = 0.3 * torch.randn(int(args.seconds * orig), generator=generator)
            theirs, ours = torchaudio.transforms.Resample(orig, new), BandedResampler(orig, new)
            theirs_s = median_seconds(theirs, wave, args.repeat)
            ours_s = median_seconds(ours, wave, args.repeat)
            diff = float((theirs(wave) - ours(wave)).abs().max())
            print(
                f"| {orig} -> {new} | {theirs_s * 1e3:.1f} | {ours_s * 1e3:.1f} | "
                f"{theirs_s / ours_s:.1f}x | {diff:.1e} |"
            )


if __name__ == "__main__":
    main()
