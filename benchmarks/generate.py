"""Generation speed: real-time factor (seconds of audio per second of compute) for 10 s clips.

    python -m benchmarks.generate [--run RUN] [--clips N] [--seconds S] [--repeat K] [--n-iter I]
                                  [--scale mel|linear]

Rows, each for ``--clips`` clips of ``--seconds`` at 16 kHz (n_fft 1024, hop 256, 80 mels):

* generator alone: :meth:`Synthesizer.frames` per clip (the per-clip RNG path generation uses);
* Griffin-Lim alone: the built-in ``griffinlim`` vocoder on those clips' log-mel, one clip per
  call and all clips in one batch (a clip's audio is the same either way, so ``generate``
  batches it);
* whole generate path: :meth:`Synthesizer.generate` (frames + de-normalise + vocoder + peak
  normalisation), and :meth:`Synthesizer.stream` in 1 s chunks;
* librosa: ``librosa.feature.inverse.mel_to_audio`` on the same magnitude mel with the same
  iteration count and an HTK, un-normalised mel basis like ours (the call a user would make);
  with ``--scale linear``, ``librosa.griffinlim`` on the magnitude itself.

Without ``--run`` the generator is the built-in ``lstm`` at its default size (hidden 256, 2
layers) with random weights: speed does not depend on training. Targets (issue 5, 2 CPU cores):
the Griffin-Lim path >= 50x real time, and >= 30x faster than librosa. The machine is shared, so
timings move with whatever else runs; the best of ``--repeat`` runs is reported, in wall seconds
and in CPU seconds of this process (all its threads): the CPU column barely moves with other
load, and ``audio / CPU`` is the real-time factor per busy core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall seconds and best process CPU seconds of ``repeat`` calls after one untimed warm-up
    (timeit's rule: on a shared machine the minimum is the run least disturbed by other processes)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def random_run(folder: Path, scale: str = "mel") -> Path:
    """A run folder holding a default-size ``lstm`` generator.pt with random weights, on the default
    16 kHz features with ``scale`` ("mel": 80 bands; "linear": the 513 STFT bins)."""
    from audiogan.checkpoint import generator_file, save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.plugins import get_registry

    registry = get_registry()
    # Statistics in the range real 16 kHz speech gives (log-mel mean about -5, std about 2).
    bins = FeatureConfig(scale=scale).n_mels
    fc = FeatureConfig(scale=scale, mel_mean=[-5.0] * bins, mel_std=[2.0] * bins)
    torch.manual_seed(0)
    gen = registry.build("generator", "lstm", {}, fc, 10)
    save_checkpoint(
        generator_file(registry, "lstm", gen, fc, [str(i) for i in range(10)], 0), folder / "generator.pt"
    )
    return folder


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, help="a trained run (default: random-weight lstm, 16 kHz, 80 mels)"
    )
    parser.add_argument("--clips", type=int, default=4, help="clips per measurement (default 4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats, best reported (default 3)")
    parser.add_argument(
        "--n-iter", type=int, default=None, help="Griffin-Lim iterations (default: the vocoder's)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's own choice)"
    )
    parser.add_argument(
        "--scale",
        choices=("mel", "linear"),
        default="mel",
        help="feature.scale of the random run (default mel)",
    )
    parser.add_argument("--skip-librosa", action="store_true", help="leave out the (slow) librosa row")
    args = parser.parse_args(argv)

    import audiogan

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="audiogan-bench-") as tmp:
        run = args.run or random_run(Path(tmp), args.scale)
        config = {} if args.n_iter is None else {"n_iter": args.n_iter}
        synth = audiogan.load(run, device="cpu", vocoder="griffinlim", vocoder_config=config)
    fc, n, seconds = synth.feature_config, args.clips, args.seconds
    n_iter = synth.vocoder.config.n_iter
    audio_seconds = n * seconds
    requests = synth.requests(n, None, seed=0)
    n_frames, n_samples = synth.frames_for(seconds)

    def gen_only() -> torch.Tensor:
        return torch.stack([synth.frames(r, n_frames) for r in requests])

    frames = gen_only()
    mel = synth.front.to_vocoder(frames)  # (n, M, T) log-mel

    def gl_per_clip() -> None:
        with torch.no_grad():
            for i in range(n):
                synth.vocoder(mel[i : i + 1])

    def gl_batch() -> None:
        with torch.no_grad():
            synth.vocoder(mel)

    def whole() -> None:
        synth.generate(n, seconds, seed=0)

    chunks = int(round(seconds))

    def streaming() -> None:
        for k in range(n):
            for _ in synth.stream(seconds / chunks, seed=k, max_chunks=chunks):
                pass

    rows = [
        ("generator alone (per clip)", timed(gen_only, args.repeat)),
        (f"Griffin-Lim alone, {n_iter} iter, one clip per call", timed(gl_per_clip, args.repeat)),
        (f"Griffin-Lim alone, {n_iter} iter, batch of {n}", timed(gl_batch, args.repeat)),
        ("whole generate path (Synthesizer.generate)", timed(whole, args.repeat)),
        (f"stream, {seconds / chunks:g} s chunks", timed(streaming, max(1, args.repeat - 1))),
    ]
    librosa_seconds = None
    if not args.skip_librosa:
        import librosa

        magnitude = torch.exp(mel).numpy().astype(np.float32)

        def librosa_gl() -> None:
            # librosa's BLAS/FFT threads follow the environment; torch's setting does not reach them
            for i in range(n):
                if fc.scale == "linear":  # the magnitude itself: librosa's Griffin-Lim, no mel inverse
                    librosa.griffinlim(
                        magnitude[i],
                        n_iter=n_iter,
                        hop_length=fc.hop_length,
                        win_length=fc.win,
                        n_fft=fc.n_fft,
                    )
                    continue
                librosa.feature.inverse.mel_to_audio(
                    magnitude[i],
                    sr=fc.sample_rate,
                    n_fft=fc.n_fft,
                    hop_length=fc.hop_length,
                    win_length=fc.win,
                    power=1.0,
                    n_iter=n_iter,
                    htk=True,
                    norm=None,
                    fmin=fc.f_min,
                    fmax=fc.f_max,
                )

        librosa_times = timed(librosa_gl, 1)
        librosa_seconds = librosa_times[0]
        peer = "griffinlim" if fc.scale == "linear" else "mel_to_audio"
        rows.append((f"librosa {peer}, {n_iter} iter", librosa_times))

    print(
        f"{n} clips x {seconds:g} s at {fc.sample_rate} Hz "
        f"(n_fft {fc.n_fft}, hop {fc.hop_length}, {fc.n_mels} mels); "
        f"generator {synth.meta.get('name')!r}; torch threads {torch.get_num_threads()}; shared CPU"
    )
    print()
    print("| path | seconds | x real time | vs librosa | CPU seconds | x real time per CPU second |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (secs, cpu) in rows:
        speedup = f"{librosa_seconds / secs:.1f}x" if librosa_seconds else "-"
        print(
            f"| {name} | {secs:.3f} | {audio_seconds / secs:.1f} | {speedup} "
            f"| {cpu:.3f} | {audio_seconds / cpu:.1f} |"
        )
    gl = min(rows[1][1][0], rows[2][1][0])
    print()
    print(
        f"target: Griffin-Lim >= 50x real time -> {audio_seconds / gl:.1f}x "
        f"({'met' if audio_seconds / gl >= 50 else 'MISSED'})"
    )
    if librosa_seconds:
        print(
            f"target: >= 30x faster than librosa -> {librosa_seconds / gl:.1f}x "
            f"({'met' if librosa_seconds / gl >= 30 else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
