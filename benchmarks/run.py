"""Run every benchmark and write ``benchmarks/RESULTS.md`` (on demand; never part of the tests).

Each benchmark module runs as its own process (``python -m benchmarks.NAME``) so one's memory
and thread settings don't leak into the next; its printed tables are copied into the report
together with the machine details, the code version, the machine load before and after, and
each benchmark's own wall time, CPU time and peak resident memory.

    python -m benchmarks                         # all, writes benchmarks/RESULTS.md
    python -m benchmarks features vocoders       # a subset
    python -m benchmarks --quick                 # lighter settings (see QUICK), same tables
    python -m benchmarks learning --args "learning=--minutes 3"   # pass options through

The CPU may be shared: the load average is recorded beside every benchmark, and CPU time well
below wall time (for a single-threaded benchmark) means the benchmark waited for a core.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ORDER = ("features", "train_step", "learning", "generate", "vocoders", "phase", "split")
# --quick: about a third of the full suite's time; the same rows and peer baselines, fewer repeats
QUICK: dict[str, list[str]] = {
    "features": ["--repeat", "3"],
    "train_step": ["--steps", "12"],
    "learning": ["--minutes", "3"],
    "generate": ["--repeat", "2", "--clips", "2"],
    "vocoders": ["--files", "40", "--repeat", "3"],
    "phase": ["--files", "40", "--repeat", "2"],
    "split": ["--hits", "200"],
}


class Outcome(NamedTuple):
    """What one benchmark process did."""

    output: str
    seconds: float
    cpu_seconds: float
    peak_mib: float
    returncode: int


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def code_version() -> str:
    """``commit <hash>`` plus whether the code the benchmarks run (audiogan/, plugins/, benchmarks/) was
    edited since."""
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return "- code: not a git checkout"
    paths = ("audiogan", "plugins", "benchmarks")
    listed = "\n".join(
        (
            _git("diff", "--name-only", "HEAD", "--", *paths),
            _git("ls-files", "--others", "--exclude-standard", "--", *paths),
        )
    )
    # RESULTS.md itself is rewritten by this run: it is not code
    changed = sorted({line for line in listed.splitlines() if line and not line.endswith("RESULTS.md")})
    note = f" plus uncommitted changes to {len(changed)} file(s): {', '.join(changed[:6])}" if changed else ""
    return f"- code: commit {commit}{note}"


def machine() -> list[str]:
    """Markdown bullet lines describing this machine and software."""
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
    lines.append(f"- GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "- GPU: none")
    lines.append(code_version())
    return lines


def run_one(name: str, extra: list[str], timeout: float | None = None) -> Outcome:
    """Run ``python -m benchmarks.NAME EXTRA...`` in a child process and measure that child alone.

    ``os.wait4`` gives the child's own peak RSS and CPU time (``RUSAGE_CHILDREN`` would report the
    largest child so far, so a small benchmark after a big one would inherit its peak).
    """
    command = [sys.executable, "-m", f"benchmarks.{name}", *extra]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=HERE.parent, stdout=out, stderr=err, text=True)
        deadline = None if timeout is None else start + timeout
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline and not timed_out:
                proc.kill()  # our own child, by its handle
                timed_out = True
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen so it won't wait again
        out.seek(0)
        err.seek(0)
        output, errors = out.read().strip(), err.read().strip()
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    if timed_out:
        output += f"\n\nTIMED OUT after {timeout:.0f} s"
    if proc.returncode != 0:
        output += "\n\nFAILED:\n```\n" + errors[-2000:] + "\n```"
    return Outcome(output, seconds, usage.ru_utime + usage.ru_stime, peak, proc.returncode)


def parse_passthrough(items: list[str]) -> dict[str, list[str]]:
    """``["learning=--minutes 3", ...]`` -> ``{"learning": ["--minutes", "3"]}`` (shell-style splitting)."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        if not sep or name not in ORDER:
            raise SystemExit(f"--args {item!r}: expected NAME=OPTIONS with NAME one of {', '.join(ORDER)}")
        out.setdefault(name, []).extend(shlex.split(rest))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(ORDER)})")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="report path")
    parser.add_argument(
        "--quick", action="store_true", help="lighter settings for every benchmark (QUICK in run.py)"
    )
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help="extra options for one benchmark, e.g. --args 'learning=--minutes 3' (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop a benchmark after S seconds (reported as failed)",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(ORDER)}")
    passthrough = parse_passthrough(args.args)
    names = args.names or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    invocation = " ".join(
        ["python -m benchmarks", *map(shlex.quote, argv if argv is not None else sys.argv[1:])]
    )
    sections = [
        "# Benchmark results",
        "",
        f"Written by `{invocation}`.",
        "",
        *machine(),
        f"- load average (1/5/15 min) at the start: {load_average()}",
        "",
    ]
    if args.quick:
        sections += [
            "Quick mode: fewer repeats and shorter budgets than the defaults (the options are shown "
            "with each benchmark), so medians are noisier.",
            "",
        ]
    failed = 0
    total = time.perf_counter()
    for name in names:
        extra = (QUICK.get(name, []) if args.quick else []) + passthrough.get(name, [])
        print(f"running {' '.join(['benchmarks.' + name, *extra])} ...", file=sys.stderr, flush=True)
        load_before = load_average()
        result = run_one(name, extra, args.timeout)
        failed += result.returncode != 0
        command = " ".join(["python -m benchmarks." + name, *map(shlex.quote, extra)])
        sections += [
            f"## {name}",
            "",
            f"`{command}` — {result.seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU, "
            f"peak RSS {result.peak_mib:.0f} MiB; load average before {load_before}, after {load_average()}",
            "",
            result.output,
            "",
        ]
        print(f"  {result.seconds:.0f} s, rc {result.returncode}", file=sys.stderr, flush=True)
    sections += [
        f"Whole run: {time.perf_counter() - total:.0f} s; load average at the end: {load_average()}.",
        "",
    ]
    from audiogan.fileio import write_text_atomic

    write_text_atomic(args.out, "\n".join(sections))
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
