"""Feature extraction speed on FSDD: a plain librosa loop vs ``prepare`` cold and warm.

    python -m benchmarks.features [--data DIR] [--workers N] [--repeat K]

Rows (all in one process, after an untimed read of every file so the OS page cache is equally
warm for everyone, and after a 20-file warm-up of librosa's lazy imports and filter caches):

* librosa loop: per file ``librosa.load(sr=16000)`` + ``librosa.feature.melspectrogram``
  (n_fft 1024, hop 256, 80 mels, magnitude), the usual peer baseline; timed with the default
  BLAS threads and with BLAS limited to one thread (threadpoolctl): on a busy 2-core machine the
  multi-threaded mel matrix product spins and runs several times slower. The speed-up column and
  the targets use the faster of the two, so the comparison never flatters audiogan;
* prepare cold: :func:`audiogan.data.dataset.load_dataset` into an empty cache folder (decode, resample,
  log-mel, write the memory-mapped cache, statistics), with 1 and with ``--workers`` processes;
* prepare warm: the same call again (a cache hit: scan + stat + manifest + memory map), median
  of ``--repeat`` runs;
* prepare warm CLI: ``audiogan prepare --quiet`` as a whole process (interpreter and torch import
  included), for reference.

Targets (issue 2, 2-core machine): cold >= 3x the librosa loop's files/s; warm >= 50x faster
than cold. Timings depend on what else runs on the machine; say so when quoting them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


def librosa_loop(files: list[Path]) -> float:
    """Seconds for the per-file librosa baseline over ``files``."""
    import librosa

    start = time.perf_counter()
    for path in files:
        y, _ = librosa.load(path, sr=16000)
        librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=256, n_mels=80, power=1.0)
    return time.perf_counter() - start


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children) for one call."""

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    wall, used = time.perf_counter(), cpu()
    fn(*args, **kwargs)
    return time.perf_counter() - wall, cpu() - used


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder of recordings (default: FSDD)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="prepare's decoding processes (default: cores)"
    )
    parser.add_argument("--repeat", type=int, default=11, help="warm runs (median reported)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder not found: {args.data} (needs ../shared/data/fsdd)", file=sys.stderr)
        return 2

    from audiogan.config import FeatureConfig
    from audiogan.data.dataset import load_dataset

    files = sorted(p for p in args.data.rglob("*.wav") if not any(part.startswith(".") for part in p.parts))
    for path in files:  # untimed: every file in the OS page cache for every contender
        path.read_bytes()
    librosa_loop(files[:20])  # untimed warm-up (lazy imports, resampler and mel filter caches)
    rows: list[tuple[str, float, float]] = []
    rows.append(("librosa loop (default BLAS threads)", *timed(librosa_loop, files)))
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            rows.append(("librosa loop (1 BLAS thread)", *timed(librosa_loop, files)))
    except ImportError:
        pass
    t_librosa = min(wall for _, wall, _ in rows)
    fc = FeatureConfig()
    workers = args.workers or min(os.cpu_count() or 1, 8)
    with tempfile.TemporaryDirectory(prefix="audiogan-bench-") as tmp:
        wall, cpu = timed(load_dataset, args.data, fc, cache_dir=Path(tmp) / "one", workers=1, progress=False)
        rows.append(("prepare cold (1 worker)", wall, cpu))
        ds = None

        def cold() -> None:
            nonlocal ds
            ds = load_dataset(args.data, fc, cache_dir=tmp, workers=workers, progress=False)

        t_cold, cpu = timed(cold)
        assert ds is not None and not ds.build["cache_hit"]
        rows.append((f"prepare cold ({workers} workers)", t_cold, cpu))
        warm = []
        for _ in range(args.repeat):
            warm.append(timed(load_dataset, args.data, fc, cache_dir=tmp, workers=workers, progress=False))
        t_warm, cpu = sorted(warm)[len(warm) // 2]
        rows.append((f"prepare warm (median of {args.repeat})", t_warm, cpu))
        rows.append((f"prepare warm (best of {args.repeat})", *min(warm)))
        command = [sys.executable, "-m", "audiogan", "prepare", str(args.data), "--cache-dir", tmp, "--quiet"]
        rows.append(
            (
                "prepare warm CLI (whole process)",
                *timed(subprocess.run, command, check=True, capture_output=True),
            )
        )

    n = len(files)
    print(f"feature extraction on {args.data} ({n} files, {ds.total_seconds / 60:.1f} min of audio)\n")
    print(
        f"| {'method':<36} | {'wall s':>8} | {'files/s':>9} | {'CPU s':>7} "
        f"| {'files/CPU-s':>11} | {'vs librosa':>10} |"
    )
    print(f"|{'-' * 38}|{'-' * 10}|{'-' * 11}|{'-' * 9}|{'-' * 13}|{'-' * 12}|")
    for name, wall, cpu in rows:
        print(
            f"| {name:<36} | {wall:8.3f} | {n / wall:9.0f} | {cpu:7.2f} | {n / max(cpu, 1e-9):11.0f} | "
            f"{t_librosa / wall:9.1f}x |"
        )
    cold_x, warm_x = t_librosa / t_cold, t_cold / t_warm
    print(
        "\n'vs librosa' divides the faster librosa row's wall time by each row's; CPU s counts this process"
    )
    print(
        "and its worker processes, so files/CPU-s is the efficiency that load on the machine does not change."
    )
    print(f"cold vs librosa: {cold_x:.1f}x (target >= 3x: {'met' if cold_x >= 3 else 'NOT met'})")
    print(
        f"warm vs cold:    {warm_x:.0f}x with the median warm run, "
        f"{t_cold / min(warm)[0]:.0f}x with the best "
        f"(target >= 50x: {'met' if warm_x >= 50 else 'NOT met'} by the median)"
    )
    print(
        f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(other work on the machine slows every row)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
