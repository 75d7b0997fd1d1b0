"""Cutting takes into sounds: events found vs planted, for each split method.

    python -m benchmarks.split                       # drum-like take + FSDD digits (when present)
    python -m benchmarks.split --hits 500 --seed 1

1. A generated 16 kHz take of ``--hits`` percussive hits (noise bursts and pitched knocks with
   exponential decays, a third of them 20-30 dB quieter) at random gaps of 0.12-0.9 s. An event
   matches a planted hit when its onset (start + the pad) is within 50 ms of the hit; precision =
   matched events / events, recall = matched hits / hits, onset error = |event onset - hit| over
   the matches: on the 16 ms frame grid (the clips' own starts) and refined on the audio
   (``refine_onsets``: what the listing and the exported slices use).
2. FSDD test recordings (file indices 0-4 of every digit and speaker, 8 kHz) concatenated into
   one take with 0.3-0.8 s of silence between them: a digit is recovered when exactly one event
   overlaps it and that event lies within it (+-0.1 s); split = more than one event, missed = none.

Features are the cache's (audiogan.data.extract on the whole take, as prepare would store them);
events come from :func:`audiogan.data.split.find_events` with default settings but the method,
the merge gap and the onset delta; an ``auto`` row names the method it chose for the take.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from audiogan.config import FeatureConfig
from audiogan.data.extract import extract
from audiogan.data.split import SplitSettings, choose_method, find_events, refine_onsets

#: (method, gap_seconds, onset_delta) rows: the default first, then the alternatives.
VARIANTS = [
    ("auto", 0.0, 0.07),
    ("onset", 0.0, 0.07),
    ("onset", 0.0, 0.03),
    ("onset", 0.0, 0.2),
    ("silence", 0.0, 0.07),
    ("silence", 0.1, 0.07),
    ("silence", 0.25, 0.07),
]
FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"


def drum_take(path: Path, hits: int, seed: int, rate: int = 16000) -> np.ndarray:
    """Write the take; returns the planted onsets in seconds."""
    rng = np.random.default_rng(seed)
    gaps = rng.uniform(0.12, 0.9, hits)
    onsets = np.cumsum(gaps) + 0.3
    total = int((onsets[-1] + 1.0) * rate)
    take = np.zeros(total, dtype=np.float64)
    t = np.arange(int(0.5 * rate)) / rate
    for i, at in enumerate(onsets):
        decay = np.exp(-t / rng.uniform(0.03, 0.12))
        if i % 2:
            body = rng.standard_normal(t.size)  # snare/hat-like burst
        else:
            body = np.sin(2 * np.pi * rng.uniform(60, 300) * t * (1 - 0.5 * t))  # kick/tom-like knock
        level = 10 ** (-rng.uniform(20, 30) / 20) if i % 3 == 0 else rng.uniform(0.5, 0.9)
        start = int(at * rate)
        piece = (level * decay * body)[: total - start]
        take[start : start + piece.size] += piece
    take += 1e-4 * rng.standard_normal(total)  # a quiet room, not digital silence
    sf.write(path, (0.9 * take / np.abs(take).max()).astype(np.float32), rate, subtype="PCM_16")
    return onsets


def score_hits(found: np.ndarray, onsets: np.ndarray) -> dict:
    """Events' onsets (s) against the planted ones."""
    used, errors = set(), []
    for at in onsets:
        if not found.size:
            break
        k = int(np.argmin(np.abs(found - at)))
        if abs(found[k] - at) <= 0.05 and k not in used:
            used.add(k)
            errors.append(abs(found[k] - at))
    return {
        "events": len(found),
        "precision": len(used) / max(len(found), 1),
        "recall": len(used) / len(onsets),
        "median_ms": 1000 * float(np.median(errors)) if errors else float("nan"),
    }


def digits_take(path: Path, seed: int) -> list[tuple[float, float]] | None:
    """FSDD test files (indices 0-4) with gaps, written at 8 kHz; returns each digit's span (s)."""
    if not FSDD.is_dir():
        return None
    rng = np.random.default_rng(seed)
    files = sorted(p for p in FSDD.glob("*/*.wav") if p.stem.rsplit("_", 1)[-1] in {"0", "1", "2", "3", "4"})
    pieces, spans, at = [np.zeros(4000)], [], 0.5
    for f in files:
        audio, rate = sf.read(f, dtype="float32")
        audio = audio if audio.ndim == 1 else audio.mean(axis=1)
        audio = audio / max(np.abs(audio).max(), 1e-6) * rng.uniform(0.3, 0.9)
        spans.append((at, at + len(audio) / rate))
        gap = rng.uniform(0.3, 0.8)
        pieces += [audio, np.zeros(int(gap * rate))]
        at += len(audio) / rate + gap
    sf.write(path, np.concatenate(pieces).astype(np.float32), 8000, subtype="PCM_16")
    return spans


def score_digits(events: list[tuple[int, int]], spans: list[tuple[float, float]], fc: FeatureConfig) -> dict:
    frame = fc.hop_length / fc.sample_rate
    bounds = [(s * frame, e * frame) for s, e in events]
    whole = split = missed = 0
    for a, b in spans:
        hits = [(s, e) for s, e in bounds if s < b and e > a]
        if not hits:
            missed += 1
        elif len(hits) > 1:
            split += 1
        elif hits[0][0] >= a - 0.1 and hits[0][1] <= b + 0.1:
            whole += 1
    return {"digits": len(spans), "events": len(events), "whole": whole, "split": split, "missed": missed}


def _name(method: str, gap: float, delta: float, chosen: str) -> str:
    name = f"{method}, gap {gap:g} s" + (f", delta {delta:g}" if method != "silence" else "")
    return name + (f" (chose {chosen})" if method == "auto" else "")


def main() -> None:
    """Both takes, every method, one table each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fc = FeatureConfig()  # the default features: 16 kHz, hop 256 (16 ms frames)
        onsets = drum_take(Path(tmp) / "drums.wav", args.hits, args.seed)
        frames, _, _ = extract(Path(tmp) / "drums.wav", fc)
        print(
            f"drum-like take: {args.hits} hits (a third 20-30 dB quieter), gaps 0.12-0.9 s, seed {args.seed}"
        )
        print("| method | events | precision | recall | onset error ms (median), frames | on the audio |")
        print("|---|---:|---:|---:|---:|---:|")
        frame = fc.hop_length / fc.sample_rate
        for method, gap, delta in VARIANTS:
            settings = SplitSettings(method=method, gap_seconds=gap, onset_delta=delta)
            events = find_events(frames, fc, settings)
            chosen = choose_method(frames, fc, settings)
            on_grid = np.array([start * frame + settings.pad_seconds for start, _ in events])
            refined = np.array(refine_onsets(Path(tmp) / "drums.wav", list(on_grid)))
            a, b = score_hits(on_grid, onsets), score_hits(refined, onsets)
            cells = [
                _name(method, gap, delta, chosen),
                a["events"],
                f"{a['precision']:.3f}",
                f"{a['recall']:.3f}",
            ]
            cells += [f"{a['median_ms']:.1f}", f"{b['median_ms']:.2f} (recall {b['recall']:.3f})"]
            print("| " + " | ".join(map(str, cells)) + " |")
        spans = digits_take(Path(tmp) / "digits.wav", args.seed)
        if spans is None:
            print(f"\nFSDD not found at {FSDD}: digits take skipped")
            return
        # The features of samples/configs/fsdd.toml.
        fc8 = FeatureConfig(sample_rate=8000, n_fft=512, hop_length=128, n_mels=64)
        frames, _, _ = extract(Path(tmp) / "digits.wav", fc8)
        print(f"\nFSDD test digits concatenated with 0.3-0.8 s gaps: {len(spans)} digits, 8 kHz, hop 128")
        print("| method | events | digits whole (one event) | split | missed |")
        print("|---|---:|---:|---:|---:|")
        for method, gap, delta in VARIANTS:
            settings = SplitSettings(method=method, gap_seconds=gap, onset_delta=delta)
            r = score_digits(find_events(frames, fc8, settings), spans, fc8)
            cells = [
                _name(method, gap, delta, choose_method(frames, fc8, settings)),
                r["events"],
                f"{r['whole']}/{r['digits']}",
                r["split"],
                r["missed"],
            ]
            print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
