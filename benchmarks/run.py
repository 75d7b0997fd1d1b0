"""Run every benchmark and write ``benchmarks/RESULTS.md`` (on demand; never part of the tests).

Each benchmark module runs as its own process (``python -m benchmarks.NAME``) so one's memory
and thread settings don't leak into the next; its printed tables are copied into the report
together with the machine details and each benchmark's peak resident memory.

    python -m benchmarks                  # all, writes benchmarks/RESULTS.md
    python -m benchmarks features vocoders  # a subset
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("features", "train_step", "learning", "generate", "vocoders")


def _machine() -> list[str]:
    import torch

    lines = [
        f"- date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}",
        f"- CPU cores visible: {os.cpu_count()}, torch threads: {torch.get_num_threads()}",
    ]
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        lines.append(f"- CPU: {model}")
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name(0)}")
    else:
        lines.append("- GPU: none")
    return lines


def run_one(name: str) -> tuple[str, float, float, int]:
    """Run ``benchmarks.NAME`` in a child process; return (stdout, seconds, peak RSS MiB, rc)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    # ru_maxrss of children is the max over all children so far; good enough as each runs alone
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    output = proc.stdout.strip()
    if proc.returncode != 0:
        output += "\n\nFAILED:\n" + proc.stderr.strip()[-2000:]
    return output, seconds, peak, proc.returncode


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(ORDER)})")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="report path")
    args = parser.parse_args(argv)
    names = args.names or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    sections = ["# Benchmark results", "", "Written by `python -m benchmarks`.", "", *_machine(), ""]
    failed = 0
    for name in names:
        print(f"running benchmarks.{name} ...", file=sys.stderr, flush=True)
        output, seconds, peak, rc = run_one(name)
        failed += rc != 0
        sections += [f"## {name}", "", f"`python -m benchmarks.{name}` — {seconds:.0f} s wall, peak RSS {peak:.0f} MiB", "", output, ""]
    from audiogan.fileio import write_text_atomic

    write_text_atomic(args.out, "\n".join(sections))
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
