"""Griffin-Lim's initial phase: a random start against PGHI, on held-out FSDD copy-synthesis.

    python -m benchmarks.phase [--data DIR] [--files N] [--n-iter I] [--seeds 0,1] [--mels 64,128]
                               [--repeat K] [--threads T]

Each held-out FSDD recording (file indices 0-4, the last number in the file name; 300 files)
is loaded at 8 kHz and resynthesised from its own features with the FSDD settings
(samples/configs/fsdd.toml: n_fft 512, hop 128, Hann 512, 0-4 kHz) by the built-in
``griffinlim`` vocoder at ``--n-iter`` iterations (momentum 0.99), once per initial phase:

* from the log-mel at each ``--mels`` band count (the vocoder's own path: NNLS estimate of the
  linear magnitude, then Griffin-Lim); ``init="random"`` once per ``--seeds`` seed, ``"pghi"``
  (Phase Gradient Heap Integration from that estimate) likewise, since the seed fills PGHI's
  bins below its tolerance;
* from the true linear magnitude (``|STFT|`` of the recording in the vocoder's layout), for
  scale: the same Griffin-Lim from a random or a PGHI start, and PGHI alone (0 iterations).

Measures on the float output (no 16-bit WAV), against the recording, averaged over files; lower
is better: MR-STFT distance (:func:`benchmarks.vocoders.mrstft_distance`: spectral convergence
plus mean |log magnitude| difference over FFT sizes 256 / 512 / 1024 at 8 kHz, hop 1/4, Hann)
and log-mel L1 (mean |difference| of the 64-band FSDD log-mel, the features the GAN models, for
every row). Both starts are deterministic per seed; the spread over seeds is the tolerance.

Speed: the real-time factor of each row's vocoder calls (audio seconds / wall seconds, summed
over the files, batch 1; numba's one-time compile or cache load is printed apart), and for 10 s
clips at the default FeatureConfig (16 kHz, n_fft 1024, 80 mels) the vocoder alone and the whole
:meth:`Synthesizer.generate` path, best of ``--repeat`` with the two starts interleaved. All on
``--threads`` torch threads (default 1: on a shared 2-core machine two threads on clips this
small wait on each other). The machine is shared: timings move with its load.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from benchmarks.vocoders import DEFAULT_DATA, mrstft_distance, test_files

# benchmarks.vocoders' 512 / 1024 / 2048 at 16 kHz span 32 / 64 / 128 ms; the same spans at 8 kHz
# (a 2048 window would not fit the shortest FSDD clips, 1024 samples).
FFT_SIZES = (256, 512, 1024)
FSDD = {"sample_rate": 8000, "n_fft": 512, "hop_length": 128, "f_min": 0.0, "f_max": 4000.0}


class Row:
    """One configuration's per-file measures, accumulated."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.stft: list[float] = []
        self.mel: list[float] = []
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0

    def add(self, reference: torch.Tensor, estimate: torch.Tensor, front, seconds: float, sr: int) -> None:
        """Score ``estimate`` (S,) against ``reference`` (S',) made in ``seconds`` of compute."""
        n = min(reference.shape[-1], estimate.shape[-1])
        self.stft.append(mrstft_distance(reference, estimate, FFT_SIZES))
        with torch.no_grad():
            self.mel.append(float((front.log_mel(reference[:n]) - front.log_mel(estimate[:n])).abs().mean()))
        self.audio_seconds += estimate.shape[-1] / sr
        self.compute_seconds += seconds


def timed(fn: Callable[..., torch.Tensor], *args: object) -> tuple[torch.Tensor, float]:
    """``fn(*args)`` and its wall seconds."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def copy_synthesis(files: list[Path], mels: Sequence[int], seeds: Sequence[int], n_iter: int) -> list:
    """Every row of the quality table, in print order, then the seconds numba took to compile or
    load PGHI's walk (once per process, kept out of the rows' timings)."""
    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.features import MelFrontEnd
    from audiogan_plugins.griffinlim import GriffinLimVocoder, griffin_lim, pghi_phase

    judge = MelFrontEnd(FeatureConfig(n_mels=64, **FSDD))  # log-mel L1 always on the FSDD 64 bands
    sr, n_fft, hop = FSDD["sample_rate"], FSDD["n_fft"], FSDD["hop_length"]
    window = torch.hann_window(n_fft)
    vocoders: list[tuple[Row, int, GriffinLimVocoder]] = []
    for n_mels in mels:
        fc = FeatureConfig(n_mels=n_mels, **FSDD)
        for init in ("random", "pghi"):
            for seed in seeds:
                config = GriffinLimVocoder.Config(n_iter=n_iter, init=init, seed=seed)
                label = f"{n_mels} mels, {init} start, seed {seed}"
                vocoders.append((Row(label), n_mels, GriffinLimVocoder(config, fc).eval()))
    fronts = {n_mels: MelFrontEnd(FeatureConfig(n_mels=n_mels, **FSDD)) for n_mels in mels}
    true_rows = {
        (init, seed): Row(f"true magnitude, {init} start, seed {seed}")
        for init in ("random", "pghi")
        for seed in seeds
    }
    pghi_only = Row("true magnitude, PGHI alone (0 iterations)")

    def from_true(magnitude: torch.Tensor, init: str, seed: int) -> torch.Tensor:
        if init == "pghi":
            phase = pghi_phase(magnitude, n_fft, hop, n_fft, seed=seed)
            start: str | torch.Tensor = torch.polar(torch.ones_like(phase), phase)
        else:
            start = init
        return griffin_lim(magnitude, window, n_fft, hop, n_iter, 0.99, init=start, seed=seed)[0]

    def alone(magnitude: torch.Tensor) -> torch.Tensor:
        phase = pghi_phase(magnitude, n_fft, hop, n_fft)
        start = torch.polar(torch.ones_like(phase), phase)
        return griffin_lim(magnitude, window, n_fft, hop, 0, 0.0, init=start)[0]

    numba_seconds = timed(pghi_phase, torch.rand(1, 5, 4), 8, 2, 8)[1]  # out of the rows' timings
    with torch.inference_mode():
        for path in files:
            wave = torch.from_numpy(load_audio(path, sr))
            log_mels = {n: fronts[n].log_mel(wave).transpose(1, 2) for n in mels}  # (1, M, T)
            for row, n_mels, vocoder in vocoders:
                out, seconds = timed(vocoder, log_mels[n_mels])
                row.add(wave, out[0], judge, seconds, sr)
            spectrum = torch.stft(wave, n_fft, hop, n_fft, window, return_complex=True, pad_mode="reflect")
            magnitude = spectrum.abs()[None]  # (1, F, T)
            for (init, seed), row in true_rows.items():
                out, seconds = timed(from_true, magnitude, init, seed)
                row.add(wave, out, judge, seconds, sr)

            out, seconds = timed(alone, magnitude)
            pghi_only.add(wave, out, judge, seconds, sr)
    return [row for row, _, _ in vocoders] + list(true_rows.values()) + [pghi_only, numba_seconds]


def speed(n_iter: int, repeat: int) -> list[tuple[str, dict[str, float]]]:
    """Real-time factors per initial phase, 10 s clips at the default FeatureConfig (16 kHz, n_fft
    1024, hop 256, 80 mels): the vocoder alone on one clip, and :meth:`Synthesizer.generate` of 4
    clips (a random-weight default ``lstm``, as in benchmarks.generate). Best of ``repeat`` calls
    after a warm-up (timeit's rule on a shared machine), the starts interleaved."""
    import tempfile

    import audiogan
    from audiogan.config import FeatureConfig
    from audiogan_plugins.griffinlim import GriffinLimVocoder
    from benchmarks.generate import random_run

    inits = ("random", "pghi")
    fc = FeatureConfig()
    vocoders = {
        i: GriffinLimVocoder(GriffinLimVocoder.Config(n_iter=n_iter, init=i), fc).eval() for i in inits
    }
    frames = 10 * fc.sample_rate // fc.hop_length + 1
    mel = torch.randn(1, fc.n_mels, frames, generator=torch.Generator().manual_seed(0)) - 4.0
    with tempfile.TemporaryDirectory(prefix="audiogan-phase-") as tmp:
        run = random_run(Path(tmp))
        synths = {
            i: audiogan.load(
                run, device="cpu", vocoder="griffinlim", vocoder_config={"n_iter": n_iter, "init": i}
            )
            for i in inits
        }
    calls = {
        "vocoder alone, 1 clip": (10.0, lambda i: vocoders[i](mel)),
        "whole generate path, 4 clips": (40.0, lambda i: synths[i].generate(4, 10.0, seed=0)),
    }
    rows = []
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: quiet clips, "gain capped" warnings
        for label, (seconds, call) in calls.items():
            best = {i: math.inf for i in inits}
            for i in inits:
                call(i)  # warm-up (and, for PGHI, numba's compile or cache load)
            for _ in range(repeat):
                for i in inits:
                    best[i] = min(best[i], timed(call, i)[1])
            rows.append((label, {i: seconds / best[i] for i in inits}))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the quality and speed tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FSDD recordings folder")
    parser.add_argument("--files", type=int, default=0, help="at most this many test files (0 = all)")
    parser.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations (default 32)")
    parser.add_argument("--seeds", default="0,1", help="seeds of the random phase (default 0,1)")
    parser.add_argument("--mels", default="64,128", help="mel band counts (default 64,128)")
    parser.add_argument("--repeat", type=int, default=5, help="timed 10 s calls per start (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small clips)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    mels = [int(m) for m in args.mels.split(",")]
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"\n### Griffin-Lim initial phase, {args.n_iter} iterations (held-out FSDD, lower is better)\n")
    if not args.data.is_dir():
        print(f"(skipped: {args.data} not found)")
    else:
        files = test_files(args.data, range(0, 5), args.files or None)
        print(f"{len(files)} files from {args.data}; 8 kHz, n_fft 512, hop 128; float output\n")
        rows = copy_synthesis(files, mels, seeds, args.n_iter)
        print(f"(PGHI's heap walk: numba compile or cache load, once per process: {rows.pop():.2f} s)\n")
        print("| resynthesis | MR-STFT distance | log-mel L1 | real-time factor |\n|---|---|---|---|")
        for row in rows:
            rtf = row.audio_seconds / max(row.compute_seconds, 1e-9)
            print(f"| {row.label} | {np.mean(row.stft):.4f} | {np.mean(row.mel):.4f} | {rtf:.0f}x |")
        print("\nper-file wins of the PGHI start over the random start (same seed, MR-STFT / log-mel L1):\n")
        by_label = {row.label: row for row in rows}
        for prefix in [f"{n} mels" for n in mels] + ["true magnitude"]:
            for seed in seeds:
                r, p = (
                    by_label[f"{prefix}, random start, seed {seed}"],
                    by_label[f"{prefix}, pghi start, seed {seed}"],
                )
                stft_wins = sum(b < a for a, b in zip(r.stft, p.stft))
                mel_wins = sum(b < a for a, b in zip(r.mel, p.mel))
                print(f"- {prefix}, seed {seed}: {stft_wins}/{len(r.stft)} / {mel_wins}/{len(r.mel)}")
    print(f"\n### Speed: 10 s clips at 16 kHz (default FeatureConfig), {args.n_iter} iterations\n")
    print("| path | random start | pghi start | pghi / random |\n|---|---|---|---|")
    for label, rtf in speed(args.n_iter, args.repeat):
        ratio = rtf["pghi"] / rtf["random"]
        print(f"| {label} | {rtf['random']:.0f}x | {rtf['pghi']:.0f}x | {ratio:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
