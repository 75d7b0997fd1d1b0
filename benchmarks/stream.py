"""Long recordings: cold ``audiogan prepare`` of one long 44.1 kHz stereo file vs librosa.

    python -m benchmarks.stream                  # one hour (635 MB of WAV in a temporary folder)
    python -m benchmarks.stream --seconds 7200   # two hours
    python -m benchmarks.stream --python /tmp/cpuvenv/bin/python   # measure another install's torch

Writes a WAV of tones, noise bursts and silences in a known pattern, then, each in its own fresh
process (so peak resident memory is that command's alone):

* ``audiogan prepare`` (cold cache, default features: 16 kHz, n_fft 1024, hop 256, 80 mels), which
  streams the file block by block;
* the peer baseline: ``librosa.load(path, sr=16000)`` + ``librosa.feature.melspectrogram`` on the
  whole file (same FFT size, hop, mels, magnitude), in one process.

Reports wall time, audio seconds per wall second and peak RSS of each; the same ratio after
start-up (importing torch alone takes ~2 s here): prepare's own ``time:`` line against librosa's
load + melspectrogram timed inside its process after a first call on a tiny file; and checks that the
cached features of the first two minutes equal a whole-file computation of those two minutes
(:func:`audiogan.data.extract.extract` on a copy of them), away from the copy's cut edge.
Timings on a shared CPU vary: compare the ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
PATTERN = 10.0  # seconds: tone 3 s, silence 1 s, noise bursts 2 s, silence 1 s, chirp 3 s


def write_take(path: Path, seconds: float) -> Path:
    """A stereo 16-bit WAV of ``seconds`` built from a repeating 10-s pattern, block by block."""
    rng = np.random.default_rng(0)
    t = np.arange(int(PATTERN * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t < 3)
    bursts = 0.2 * rng.standard_normal(t.size) * ((t >= 4) & (t < 6)) * (np.sin(2 * np.pi * 4 * t) > 0)
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 300 * (t - 7)) * (t - 7)) * (t >= 7)
    block = np.stack([tone + bursts + chirp, 0.8 * (tone + bursts) + chirp], axis=1).astype(np.float32)
    total = int(seconds * RATE)
    with sf.SoundFile(path, "w", RATE, 2, "PCM_16") as out:
        done = 0
        while done < total:
            n = min(block.shape[0], total - done)
            out.write(block[:n])
            done += n
    return path


def measure(command: list[str]) -> tuple[float, float, str]:
    """Run ``command`` in a fresh process: (wall seconds, peak RSS MiB, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:4]} failed:\n{output}")
    return wall, usage.ru_maxrss / 1024.0, output  # ru_maxrss is in KiB on Linux


LIBROSA = r"""
import sys, librosa
y, sr = librosa.load(sys.argv[1], sr=16000)
mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=80, power=1.0)
print(mel.shape)
"""

# The same work timed inside its process, in a process of its own so that its warm-up call does
# not count in the wall time above.
LIBROSA_TIMED = r"""
import json, sys, time
import librosa, numpy as np, soundfile as sf
# A first call on a tiny file loads what librosa imports lazily (soxr, scipy, numba), so that
# the timed call below is its steady-state work on the take alone.
sf.write(sys.argv[2], np.zeros(4410, dtype=np.float32), 44100)
librosa.feature.melspectrogram(y=librosa.load(sys.argv[2], sr=16000)[0], sr=16000, n_fft=1024)
started = time.perf_counter()
y, sr = librosa.load(sys.argv[1], sr=16000)
mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=80, power=1.0)
print(json.dumps({"seconds": time.perf_counter() - started, "frames": mel.shape[1]}))
"""


def prepare_seconds(output: str) -> float:
    """The time ``audiogan prepare`` reports for its own work (its ``time:`` line): after start-up."""
    for line in output.splitlines():
        if line.strip().startswith("time:"):
            return float(line.split()[1])
    raise SystemExit(f"prepare printed no time: line:\n{output}")


CHECK = r"""
import json, sys
import numpy as np, soundfile as sf
from audiogan.config import FeatureConfig
from audiogan.data.dataset import load_dataset
from audiogan.data.extract import extract
take, folder, cache, minutes = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
data = load_dataset(folder, FeatureConfig(), cache_dir=cache, progress=False, workers=1)
head = sys.argv[5]
with sf.SoundFile(take) as src:
    sf.write(head, src.read(int(minutes * 60 * src.samplerate)), src.samplerate, subtype="PCM_16")
whole, _, _ = extract(head, FeatureConfig())
cached = np.asarray(data.log_mel(0))[: whole.shape[0] - 8]  # the copy's last frames see its cut
diff = float(np.abs(cached - whole[: cached.shape[0]]).max())
print(json.dumps({"frames": int(cached.shape[0]), "max_abs_diff": diff}))
"""


def main() -> None:
    """Write the take, time both sides, check the first minutes, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3600.0, help="length of the take (default 3600)")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the WAV and caches (default: temp)"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter whose install is measured (default: this one); e.g. a venv with the CPU "
        "build of torch, which imports in far less memory than a CUDA build",
    )
    args = parser.parse_args()
    python = args.python
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        root = Path(tmp)
        folder = root / "data"
        folder.mkdir()
        take = write_take(folder / "take.wav", args.seconds)
        size = take.stat().st_size / 2**20
        env_threads = {**os.environ, "OMP_NUM_THREADS": "1"}
        os.environ.update(env_threads)
        prepare = [
            python,
            "-m",
            "audiogan",
            "prepare",
            str(folder),
            "--cache-dir",
            str(root / "cache"),
            "--quiet",
            "--workers",
            "1",
        ]
        ours_s, ours_mib, ours_out = measure(prepare)
        theirs_s, theirs_mib, _ = measure([python, "-c", LIBROSA, str(take)])
        timed = measure([python, "-c", LIBROSA_TIMED, str(take), str(root / "tiny.wav")])[2]
        theirs_work = json.loads(timed.strip().splitlines()[-1])["seconds"]
        ours_work = prepare_seconds(ours_out)
        # What importing the measured install's torch build costs before any audio is touched.
        torch_s, torch_mib, _ = measure([python, "-c", "import torch, torchaudio"])
        check = json.loads(
            measure(
                [
                    python,
                    "-c",
                    CHECK,
                    str(take),
                    str(folder),
                    str(root / "cache"),
                    "2",
                    str(root / "head.wav"),
                ]
            )[2]
            .strip()
            .splitlines()[-1]
        )
    audio_s = args.seconds
    print(
        f"one {audio_s / 60:.0f}-minute 44.1 kHz stereo 16-bit WAV ({size:.0f} MB), default features "
        "(16 kHz, n_fft 1024, hop 256, 80 mels), cold cache, each side in its own process, OMP_NUM_THREADS=1"
    )
    print()
    print("| method | wall s | audio s per wall s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    rows = [
        ("audiogan prepare (streamed)", ours_s, ours_mib),
        ("librosa.load + melspectrogram (whole file)", theirs_s, theirs_mib),
    ]
    for name, wall, mib in rows:
        print(f"| {name} | {wall:.1f} | {audio_s / wall:.0f} | {mib:.0f} |")
    version = measure([python, "-c", "import torch; print(torch.__version__)"])[2].strip().splitlines()[-1]
    name = f"(only `import torch, torchaudio`, torch {version}, for scale)"
    print(f"| {name} | {torch_s:.1f} | | {torch_mib:.0f} |")
    print()
    print(f"speed: prepare is {theirs_s / ours_s:.2f}x librosa's (start-up included on both sides)")
    print(
        f"speed after start-up: prepare's own work {ours_work:.2f} s ({audio_s / ours_work:.0f} audio s/s) "
        f"vs librosa's load + melspectrogram {theirs_work:.2f} s ({audio_s / theirs_work:.0f} audio s/s): "
        f"{theirs_work / ours_work:.2f}x"
    )
    above = ours_mib - torch_mib
    print(f"memory: {ours_mib:.0f} MiB vs {theirs_mib:.0f} MiB; {above:.0f} MiB above importing torch")
    print(
        f"first 2 minutes, cached vs whole-file: max |diff| {check['max_abs_diff']:.2e} "
        f"over {check['frames']} frames (log-mel)"
    )
    print()
    print("prepare said:")
    print("\n".join("    " + line for line in ours_out.strip().splitlines()[-12:]))


if __name__ == "__main__":
    main()
