"""Play an exported audiogan model with onnxruntime and numpy alone: no torch, no audiogan.

    audiogan export runs/NAME --format onnx --out model.onnx
    python onnx_player.py model.onnx --label pluck --seconds 3 --out pluck.wav

Copy this file into your own program: it needs ``pip install onnxruntime numpy soundfile``. It
reads the metadata the export stored in the model, runs the generator chunk by chunk (the
recurrent state goes back in each time, so any length works), and turns the log-mel frames into
audio with the exported vocoder when there is one, else with Griffin-Lim written in numpy below.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf


def load(path: str) -> tuple[dict, ort.InferenceSession, ort.InferenceSession, ort.InferenceSession | None]:
    """The metadata and the start / step / vocoder sessions of an exported model."""
    start = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = json.loads(start.get_modelmeta().custom_metadata_map["audiogan"])
    folder = Path(path).parent
    step = ort.InferenceSession(str(folder / meta["files"]["step"]), providers=["CPUExecutionProvider"])
    vocoder = meta["files"]["vocoder"]
    vocoder = (
        ort.InferenceSession(str(folder / vocoder), providers=["CPUExecutionProvider"]) if vocoder else None
    )
    return meta, start, step, vocoder


def generate_log_mel(meta: dict, start, step, label: int, seconds: float, seed: int) -> np.ndarray:
    """Log-mel frames ``(n_mels, T)`` for ``seconds`` of one clip of class ``label``."""
    fc = meta["feature_config"]
    frames_needed = int(np.ceil(seconds * fc["sample_rate"] / fc["hop_length"]))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((1, meta["latent_dim"]), dtype=np.float32)
    labels = np.array([label], dtype=np.int64)
    chunks, state = [], []
    while sum(c.shape[-1] for c in chunks) < frames_needed:
        noise = {
            f"noise_{i}": rng.standard_normal((1, *shape), dtype=np.float32)
            for i, shape in enumerate(meta["noise"])
        }
        if not chunks:
            out = start.run(None, {"z": z, "labels": labels, **noise})
        else:
            states = {f"state_{i}": s for i, s in enumerate(state)}
            out = step.run(None, {"z": z, "labels": labels, **states, **noise})
        chunks.append(out[1][0])  # log_mel (n_mels, chunk)
        state = out[2:]
    return np.concatenate(chunks, axis=-1)[:, :frames_needed]


def mel_filterbank(fc: dict) -> np.ndarray:
    """``(n_fft // 2 + 1, n_mels)`` triangular HTK-mel filters without area normalisation."""
    n_freqs = fc["n_fft"] // 2 + 1
    f_max = fc["f_max"] if fc["f_max"] is not None else fc["sample_rate"] / 2
    freqs = np.linspace(0, fc["sample_rate"] // 2, n_freqs)
    low, high = (2595.0 * np.log10(1.0 + f / 700.0) for f in (fc["f_min"], f_max))  # Hz -> HTK mel
    points = 700.0 * (10.0 ** (np.linspace(low, high, fc["n_mels"] + 2) / 2595.0) - 1.0)  # back to Hz
    slopes = points[None, :] - freqs[:, None]  # (F, n_mels + 2)
    rising = -slopes[:, :-2] / np.diff(points)[:-1]
    falling = slopes[:, 2:] / np.diff(points)[1:]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def griffin_lim(log_mel: np.ndarray, fc: dict, iterations: int = 32, seed: int = 0) -> np.ndarray:
    """Log-mel ``(n_mels, T)`` -> waveform, by fast Griffin-Lim (momentum 0.99) on a non-negative
    least-squares estimate of the linear magnitude."""
    n_fft, hop = fc["n_fft"], fc["hop_length"]
    win = fc["win_length"] or n_fft
    window = np.zeros(n_fft, dtype=np.float32)
    offset = (n_fft - win) // 2
    window[offset : offset + win] = np.hanning(win + 1)[:-1]  # periodic Hann, centred
    basis = mel_filterbank(fc)  # (F, M)
    target = np.exp(log_mel)  # (M, T) magnitude mel
    magnitude = np.maximum(np.linalg.pinv(basis.T) @ target, 0.0)
    for _ in range(50):  # multiplicative NNLS updates: basis.T @ magnitude ~ target
        magnitude *= (basis @ target) / np.maximum(basis @ (basis.T @ magnitude), 1e-10)
    frames = magnitude.shape[1]
    length = frames * hop

    def stft(x: np.ndarray) -> np.ndarray:
        padded = np.pad(x, n_fft // 2)
        idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
        return np.fft.rfft(padded[idx] * window, axis=1).T  # (F, T)

    def istft(spec: np.ndarray) -> np.ndarray:
        pieces = np.fft.irfft(spec.T, n=n_fft, axis=1) * window
        out = np.zeros(length + n_fft)
        norm = np.zeros(length + n_fft)
        for t in range(frames):
            out[t * hop : t * hop + n_fft] += pieces[t]
            norm[t * hop : t * hop + n_fft] += window**2
        return (out / np.maximum(norm, 1e-8))[n_fft // 2 : n_fft // 2 + length]

    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    previous = np.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles))
        accelerated = rebuilt - 0.99 * previous
        previous = rebuilt
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-8)
    return istft(magnitude * angles).astype(np.float32)


def main() -> None:
    """``python onnx_player.py MODEL.onnx --label NAME --seconds S --out clip.wav``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the exported start graph (MODEL.onnx)")
    parser.add_argument("--label", default=None, help="class name or index (conditional models)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=32, help="Griffin-Lim iterations")
    parser.add_argument("--out", default="clip.wav")
    args = parser.parse_args()
    meta, start, step, vocoder = load(args.model)
    names = meta["class_names"]
    label = 0 if args.label is None else (names.index(args.label) if args.label in names else int(args.label))
    log_mel = generate_log_mel(meta, start, step, label, args.seconds, args.seed)
    if vocoder is not None:
        audio = vocoder.run(None, {"log_mel": log_mel[None].astype(np.float32)})[0][0]
    else:
        audio = griffin_lim(log_mel, meta["feature_config"], args.iterations, args.seed)
    audio = audio * (10 ** (-1 / 20) / max(float(np.abs(audio).max()), 1e-9))  # peak at -1 dBFS
    sf.write(args.out, audio, meta["feature_config"]["sample_rate"], subtype="PCM_16")
    seconds = len(audio) / meta["feature_config"]["sample_rate"]
    print(f"wrote {args.out}: {seconds:.2f} s of {names[label] if names else 'audio'}")


if __name__ == "__main__":
    main()
