"""Vocoder quality (copy-synthesis on held-out recordings) and speed, for every registered vocoder.

    python -m benchmarks.vocoders [--data DIR] [--checkpoint NAME=vocoder.pt ...] [--set NAME.KEY=VALUE ...]
                                  [--files N] [--repeat K] [--fsdd-path]

Quality: each held-out recording (FSDD test split: file index 0-4, the last number in the file
name) goes through ``audiogan resynth`` (:func:`audiogan.generation.resynth.resynthesize`: audio -> log-mel
with the default FeatureConfig, 16 kHz / n_fft 1024 / hop 256 / 80 mels -> vocoder -> 16-bit WAV),
and the written WAV is compared with the input resampled to 16 kHz:

* MR-STFT: multi-resolution STFT distance (Parallel WaveGAN): spectral convergence + mean |log
  magnitude| difference, averaged over FFT sizes 512 / 1024 / 2048 (hop n_fft / 4, Hann);
* log-mel L1: mean |difference| of the FeatureConfig's natural-log mel (the features the GAN
  models). Lower is better for both; copy-synthesis keeps levels, so no gain matching is needed.

Griffin-Lim is measured at 32 and 64 iterations. A trainable vocoder needs trained weights
(``--checkpoint istft=runs/NAME/vocoder.pt``); without them its quality row says so.

The FSDD default path (``--fsdd-path``, first): the same held-out recordings at 8 kHz through
the features ``samples/configs/fsdd.toml`` makes and the default vocoder (no ``--set``), on the
float output (no 16-bit WAV), beside the path before issue 16 (64 mel bands, Griffin-Lim 32 from a
random phase) and with each lever alone. MR-STFT over FFT 256 / 512 / 1024 (the 16 kHz sizes'
spans at 8 kHz), log-mel L1 on the 64-band FSDD log-mel for every row (a common judge; a finer
layout gains nothing from it), and each row's real-time factor on these clips.

Speed: the vocoder alone on the log-mel of 10 s of 16 kHz audio (one call, batch 1, no
gradients), median of ``--repeat`` calls, as a real-time factor (audio seconds per compute
second), with the parameter count. The machine is shared: timings move with its load.
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


def mrstft_distance(
    reference: torch.Tensor, estimate: torch.Tensor, fft_sizes: Sequence[int] = (512, 1024, 2048)
) -> float:
    """Multi-resolution STFT distance between two ``(S,)`` waveforms (cut to the shorter length)."""
    n = min(reference.shape[-1], estimate.shape[-1])
    x, y = reference[:n].float()[None], estimate[:n].float()[None]
    total = 0.0
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft)
        X = torch.stft(x, n_fft, n_fft // 4, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
        Y = torch.stft(y, n_fft, n_fft // 4, n_fft, window, return_complex=True).abs().clamp_min(1e-7)
        total += float(torch.linalg.norm(X - Y) / torch.linalg.norm(X)) + float(
            (X.log() - Y.log()).abs().mean()
        )
    return total / len(fft_sizes)


def test_files(data: Path, indices: range, limit: int | None) -> list[Path]:
    """Files whose index (last number of the name) is in ``indices``, sorted; at most ``limit``."""
    found = sorted(
        p
        for p in data.rglob("*.wav")
        if (m := re.search(r"(\d+)\.wav$", p.name)) and int(m.group(1)) in indices
    )
    return found[:limit] if limit else found


def variants(
    registry, checkpoints: dict[str, str], settings: dict[str, dict] | None = None
) -> list[tuple[str, str, dict, str | None]]:
    """``(label, vocoder name, config, why-not)`` rows: Griffin-Lim at 32/64 iterations, others at
    defaults plus ``settings[name]`` (e.g. ``{"istft": {"refine_iters": 24}}``)."""
    settings = settings or {}
    rows = []
    for name in registry.names("vocoder"):
        cls = registry.get("vocoder", name)
        if name == "griffinlim":
            rows += [(f"griffinlim n_iter={n}", name, {"n_iter": n}, None) for n in (32, 64)]
        elif getattr(cls, "trainable", False):
            path = checkpoints.get(name)
            extra = settings.get(name, {})
            label = (
                f"{name} ({path if path else 'untrained'}{''.join(f', {k}={v}' for k, v in extra.items())})"
            )
            rows.append(
                (
                    label,
                    name,
                    {**({"checkpoint": path} if path else {}), **extra},
                    None if path else "needs --checkpoint",
                )
            )
        else:
            rows.append((name, name, settings.get(name, {}), None))
    return rows


def quality(files: list[Path], name: str, config: dict, out: Path) -> tuple[float, float]:
    """Mean (MR-STFT, log-mel L1) of ``audiogan resynth`` outputs against their inputs."""
    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.features import MelFrontEnd
    from audiogan.generation.resynth import resynthesize

    fc = FeatureConfig()
    front = MelFrontEnd(fc)
    results = resynthesize(files, out, vocoder=name, vocoder_config=config, device="cpu", force=True)
    stft, mel = [], []
    for source, result in zip(files, results):
        ref = torch.from_numpy(load_audio(source, fc.sample_rate))
        est = torch.from_numpy(load_audio(out / result["file"], fc.sample_rate))
        n = min(ref.shape[0], est.shape[0])
        stft.append(mrstft_distance(ref, est))
        with torch.no_grad():
            mel.append(float((front.log_mel(ref[:n]) - front.log_mel(est[:n])).abs().mean()))
    return float(np.mean(stft)), float(np.mean(mel))


#: FFT sizes of the 8 kHz MR-STFT (benchmarks.phase uses the same).
FSDD_FFT_SIZES = (256, 512, 1024)
SAMPLES_FSDD = Path(__file__).resolve().parents[1] / "samples" / "configs" / "fsdd.toml"


def fsdd_path_rows() -> list[tuple[str, dict, dict]]:
    """``(label, [feature] settings, griffinlim settings)``: the path before issue 16, each lever
    alone, and the FSDD config with the default vocoder."""
    from audiogan.config import load_toml

    fsdd = load_toml(SAMPLES_FSDD)["feature"]
    old = {**fsdd, "scale": "mel", "n_mels": 64}
    return [
        ("before: 64 mels, Griffin-Lim 32, random start", old, {"n_iter": 32, "init": "random"}),
        ("64 mels, Griffin-Lim 32, PGHI start", old, {"n_iter": 32, "init": "pghi"}),
        ("128 mels, Griffin-Lim 32, PGHI start", {**old, "n_mels": 128}, {"n_iter": 32, "init": "pghi"}),
        ("linear bins, Griffin-Lim 32, random start", {**old, "scale": "linear"}, {"init": "random"}),
        ("linear bins, Griffin-Lim 32, PGHI start", {**old, "scale": "linear"}, {"init": "pghi"}),
        ("linear bins, PGHI alone (0 iterations)", {**old, "scale": "linear"}, {"n_iter": 0}),
        (f"**default: {SAMPLES_FSDD.name} [feature], default griffinlim**", fsdd, {}),
    ]


def fsdd_path(files: list[Path]) -> list[tuple[str, float, float, float]]:
    """``(label, MR-STFT, log-mel L1, real-time factor)`` per :func:`fsdd_path_rows` row, on the
    vocoders' float output for ``files`` (mono, at the FSDD config's sample rate)."""
    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.features import MelFrontEnd
    from audiogan.plugins import get_registry

    registry = get_registry()
    rows = []
    for label, feature, vocoder_settings in fsdd_path_rows():
        fc = FeatureConfig.from_dict(feature)
        judge = MelFrontEnd(FeatureConfig.from_dict({**feature, "scale": "mel", "n_mels": 64}))
        front = MelFrontEnd(fc)
        vocoder = registry.build("vocoder", "griffinlim", vocoder_settings, fc, 0).eval()
        stft, mel, audio_seconds, compute_seconds = [], [], 0.0, 0.0
        with torch.inference_mode():
            vocoder(front.log_mel(torch.zeros(fc.n_fft)).transpose(1, 2))  # warm-up (numba load)
            for path in files:
                wave = torch.from_numpy(load_audio(path, fc.sample_rate))
                log_mel = front.log_mel(wave).transpose(1, 2)
                start = time.perf_counter()
                out = vocoder(log_mel)[0]
                compute_seconds += time.perf_counter() - start
                audio_seconds += out.shape[-1] / fc.sample_rate
                n = min(wave.shape[-1], out.shape[-1])
                stft.append(mrstft_distance(wave, out, FSDD_FFT_SIZES))
                mel.append(float((judge.log_mel(wave[:n]) - judge.log_mel(out[:n])).abs().mean()))
        rows.append((label, float(np.mean(stft)), float(np.mean(mel)), audio_seconds / compute_seconds))
    return rows


def speed(registry, name: str, config: dict, repeat: int) -> tuple[float, int]:
    """(real-time factor for 10 s of 16 kHz audio, parameter count)."""
    from audiogan.config import FeatureConfig

    fc = FeatureConfig()
    vocoder = registry.build("vocoder", name, config, fc, 0).eval()
    frames = 10 * fc.sample_rate // fc.hop_length + 1
    mel = torch.randn(1, fc.n_mels, frames, generator=torch.Generator().manual_seed(0)) - 4.0
    times = []
    with torch.inference_mode():
        vocoder(mel)  # warm-up
        for _ in range(repeat):
            start = time.perf_counter()
            vocoder(mel)
            times.append(time.perf_counter() - start)
    return 10.0 / statistics.median(times), sum(p.numel() for p in vocoder.parameters())


def main(argv: Sequence[str] | None = None) -> int:
    """Print the quality and speed tables."""
    from audiogan.plugins import get_registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FSDD recordings folder")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="trained weights for a trainable vocoder, e.g. istft=runs/fsdd/vocoder.pt",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        dest="settings",
        help="a vocoder setting, e.g. istft.refine_iters=24 (values parse as Python literals)",
    )
    parser.add_argument("--files", type=int, default=0, help="at most this many test files (0 = all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per vocoder (median reported)")
    parser.add_argument(
        "--fsdd-path", action="store_true", help="only the FSDD default-path table (issue 16's measure)"
    )
    args = parser.parse_args(argv)
    checkpoints = dict(item.split("=", 1) for item in args.checkpoint)
    settings: dict[str, dict] = {}
    for item in args.settings:
        key, _, value = item.partition("=")
        name, _, field = key.partition(".")
        if not (name and field and value):
            parser.error(f"--set {item!r}: expected NAME.KEY=VALUE")
        try:
            settings.setdefault(name, {})[field] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings.setdefault(name, {})[field] = value
    registry = get_registry()
    rows = variants(registry, checkpoints, settings)
    print(f"torch threads: {torch.get_num_threads()}")
    files = test_files(args.data, range(0, 5), args.files or None) if args.data.is_dir() else None
    found = (
        f"{len(files)} files from {args.data}\n" if files is not None else f"(skipped: {args.data} not found)"
    )
    print("\n### The FSDD default path (held-out FSDD, file indices 0-4, float output; lower is better)\n")
    print(found)
    if files is not None:
        print("| features -> vocoder | MR-STFT distance | log-mel L1 (64 bands) | real-time factor |")
        print("|---|---|---|---|")
        path_rows = fsdd_path(files)
        for label, stft, mel, rtf in path_rows:
            print(f"| {label} | {stft:.4f} | {mel:.4f} | {rtf:.0f}x |", flush=True)
        before, default = path_rows[0], path_rows[-1]
        print(
            f"\ndefault against before: MR-STFT {100 * (default[1] / before[1] - 1):+.1f}%, "
            f"log-mel L1 {100 * (default[2] / before[2] - 1):+.1f}%"
        )
    if args.fsdd_path:
        return 0
    print("\n### Copy-synthesis quality (held-out FSDD, file indices 0-4; lower is better)\n")
    print(found)
    if files is not None:
        print("| vocoder | MR-STFT distance | log-mel L1 |\n|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            for i, (label, name, config, why) in enumerate(rows):
                if why:
                    print(f"| {label} | {why} | {why} |")
                    continue
                stft, mel = quality(files, name, config, Path(tmp) / str(i))
                print(f"| {label} | {stft:.3f} | {mel:.3f} |", flush=True)
    print("\n### Speed: vocoder alone, 10 s of 16 kHz audio, batch 1 (higher is better)\n")
    print("| vocoder | real-time factor | parameters |\n|---|---|---|")
    for label, name, config, _ in rows:
        rtf, params = speed(registry, name, config, args.repeat)
        print(f"| {label} | {rtf:.0f}x | {params:,} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
