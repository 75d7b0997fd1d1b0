"""A corpus of broken and odd audio files, written into a test's tmp_path (never the repository).

:func:`write_bad_corpus` lays out a labelled folder (class subfolders ``odd/`` and ``good/``) and
returns, for every path the scan should report, what may happen to it: ``USED`` (decoded and
kept) or a tuple of acceptable skip-reason substrings. Files that a scan must not list at all
(hidden files, a directory named like audio) are returned in ``absent``.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

USED = "used"

# Reason substrings (the stable REASON_* strings of audiogan.data.audio / scan / cache).
EMPTY = "zero bytes"
NOT_AUDIO = "not an audio file"
CORRUPT = "unreadable or corrupt"
NON_FINITE = "non-finite samples"
NO_FRAMES = "no audio frames"
SHORT = "shorter than min_seconds"
OUTSIDE = "symlink leads outside the folder"
FAR = "samples far beyond full scale"


@dataclasses.dataclass
class BadCorpus:
    """The corpus root, the expected outcome per relative path, and paths that must not be listed."""

    root: Path
    expected: dict[str, object]  # rel path -> USED or tuple of acceptable reason substrings
    absent: list[str]


def sine(seconds: float, rate: int, freq: float = 440.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """A float32 sine ``(S,)`` or ``(S, C)`` (each channel at its own frequency)."""
    t = np.arange(int(round(seconds * rate)), dtype=np.float64) / rate
    cols = [amp * np.sin(2 * np.pi * freq * (1 + 0.25 * c) * t) for c in range(channels)]
    data = np.stack(cols, axis=1) if channels > 1 else cols[0]
    return data.astype(np.float32)


def wav_bytes(data: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    """Encode ``data`` in memory with soundfile."""
    import io

    buf = io.BytesIO()
    sf.write(buf, data, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def raw_wav(
    n_frames_claimed: int,
    payload: bytes,
    rate: int = 16000,
    channels: int = 1,
    bits: int = 16,
    fmt_tag: int = 1,
) -> bytes:
    """A hand-built RIFF/WAVE file whose header may disagree with its payload."""
    block = channels * bits // 8
    data_size = n_frames_claimed * block
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
        + payload
    )


def write_long_file(path: Path, seconds: float, rate: int = 8000, subtype: str = "PCM_16") -> Path:
    """A long sine written block by block (constant memory), e.g. one hour at 8 kHz."""
    block = rate * 60
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype=subtype, format="WAV") as handle:
        done = 0
        total = int(seconds * rate)
        while done < total:
            n = min(block, total - done)
            t = (np.arange(done, done + n, dtype=np.float64)) / rate
            handle.write((0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32))
            done += n
    return path


def write_bad_corpus(root: Path, outside: Path, long_seconds: float = 75.0) -> BadCorpus:
    """Write the corpus under ``root`` (``outside`` is a folder beyond it for an escaping symlink)."""
    odd = root / "odd"
    good = root / "good"
    odd.mkdir(parents=True)
    good.mkdir(parents=True)
    outside.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    expected: dict[str, object] = {}
    absent: list[str] = []
    clip = sine(0.3, 16000)
    valid = wav_bytes(clip, 16000)

    def put(name: str, payload: bytes, outcome: object, folder: Path = odd) -> None:
        (folder / name).write_bytes(payload)
        expected[f"{folder.name}/{name}"] = outcome

    # --- good, plain files so the corpus always has usable clips in both classes
    for i in range(2):
        put(f"tone{i}.wav", wav_bytes(sine(0.3, 16000, 300 + 100 * i), 16000), USED, good)

    # --- broken containers
    put("zero.wav", b"", (EMPTY,))
    put("truncated-header.wav", valid[:20], (CORRUPT,))
    put("header-only.wav", valid[:44], (NO_FRAMES, CORRUPT))
    put("truncated-body.wav", valid[: 44 + (len(valid) - 44) // 2], (USED, CORRUPT))
    put("claims-more-frames.wav", raw_wav(10 * 16000, clip_pcm16(clip)), (USED, CORRUPT))
    put(
        "random.wav",
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes().replace(b"RIFF", b"XXXX"),
        (NOT_AUDIO, CORRUPT),
    )
    put(
        "random.flac",
        b"\x00\x01" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes(),
        (NOT_AUDIO, CORRUPT),
    )
    put("riff-garbage.wav", b"RIFF" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes(), (CORRUPT,))
    put("text.ogg", b"this is not audio, just text\n" * 20, (NOT_AUDIO,))
    put("zero-channels.wav", raw_wav(100, b"\x00" * 200, channels=0), (CORRUPT,))
    put("zero-rate.wav", raw_wav(100, b"\x00" * 200, rate=0), (CORRUPT,))
    put("bad-format-tag.wav", raw_wav(100, b"\x00" * 200, fmt_tag=0x1234), (CORRUPT,))

    # --- odd sample values
    nan = clip.copy()
    nan[100] = np.nan
    put("nan.wav", wav_bytes(nan, 16000, "FLOAT"), (NON_FINITE,))
    inf = clip.copy()
    inf[5] = np.inf
    put("inf.wav", wav_bytes(inf, 16000, "DOUBLE"), (NON_FINITE,))
    put("dc.wav", wav_bytes(np.full(4800, 0.5, dtype=np.float32), 16000), USED)
    put("silent.wav", wav_bytes(np.zeros(4800, dtype=np.float32), 16000), USED)
    put("one-sample.wav", wav_bytes(np.array([0.25], dtype=np.float32), 16000), (SHORT,))
    put("loud-float.wav", wav_bytes(clip * 40.0, 16000, "FLOAT"), USED)  # way above full scale

    # --- odd but valid formats
    put("96k-8ch.wav", wav_bytes(sine(0.2, 96000, channels=8), 96000, "PCM_24"), USED)
    put("8bit.wav", wav_bytes(clip, 16000, "PCM_U8"), USED)
    put(
        "24bit-extensible.wav", wav_bytes(sine(0.3, 44100, channels=3), 44100, "PCM_24"), USED
    )  # >2 ch: WAVE_FORMAT_EXTENSIBLE
    put("float32.wav", wav_bytes(clip, 16000, "FLOAT"), USED)
    put("float64.wav", wav_bytes(clip, 16000, "DOUBLE"), USED)
    put("clip.flac", wav_bytes(clip, 16000, "PCM_16", "FLAC"), USED)
    put("clip.ogg", wav_bytes(clip, 16000, "VORBIS", "OGG"), USED)
    put("UPPER.WAV", valid, USED)
    put("Mixed.FlAc", wav_bytes(clip, 16000, "PCM_16", "FLAC"), USED)
    put("ñandú ü 音.wav", valid, USED)
    put("   spaces   .wav", valid, USED)
    put("8k-rate.wav", wav_bytes(sine(0.3, 8000), 8000), USED)
    put("odd-rate-11025.wav", wav_bytes(sine(0.3, 11025), 11025), USED)
    put("rate-44101.wav", wav_bytes(sine(0.3, 44101), 44101), USED)  # exact kernel would be 2.8 GB
    put("huge-values.wav", wav_bytes(clip * 1e30, 16000, "FLOAT"), (FAR,))  # overflows the power spectrum
    put("rate-1000.wav", wav_bytes(sine(0.5, 1000, freq=100), 1000), USED)

    # --- a long file (longer than audio.STREAM_SECONDS: streamed block by block), written likewise
    write_long_file(odd / "long.wav", long_seconds)
    expected["odd/long.wav"] = USED

    # --- file-system oddities
    os.mkfifo(odd / "fifo.wav")  # must never block a scan (reading a FIFO would wait forever)
    expected["odd/fifo.wav"] = (EMPTY, CORRUPT, NOT_AUDIO)
    (odd / "folder.wav").mkdir()  # a directory named like audio: it is a folder, not a file
    absent.append("odd/folder.wav")
    (odd / ".hidden.wav").write_bytes(valid)
    absent.append("odd/.hidden.wav")
    os.symlink(".", odd / "loop")  # symlink loop back to its own folder
    os.symlink("self.wav", odd / "self.wav")  # a link to itself (ELOOP)
    expected["odd/self.wav"] = (CORRUPT,)
    os.symlink("missing-target.wav", odd / "dangling.wav")
    expected["odd/dangling.wav"] = (CORRUPT,)
    (outside / "escape.wav").write_bytes(valid)
    os.symlink(outside / "escape.wav", odd / "escape.wav")
    expected["odd/escape.wav"] = (OUTSIDE,)
    os.symlink(outside, odd / "escape-dir")
    expected["odd/escape-dir"] = (OUTSIDE,)
    os.symlink("tone0.wav", good / "link-inside.wav")  # inside the root: used like any file
    expected["good/link-inside.wav"] = USED
    unreadable = odd / "no-permission.wav"
    unreadable.write_bytes(valid)
    os.chmod(unreadable, 0)
    # root reads it anyway; anyone else gets a permission error
    expected["odd/no-permission.wav"] = USED if os.geteuid() == 0 else (CORRUPT,)
    return BadCorpus(root, expected, absent)


def clip_pcm16(clip: np.ndarray) -> bytes:
    """Little-endian 16-bit PCM bytes of a float clip."""
    return (np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes()


TINY_SR, TINY_HOP, TINY_MELS = 8000, 64, 16


def train_tiny_run(root: Path, steps: int = 2, **train_changes) -> tuple[Path, Path]:
    """A tiny conditional GRU run on a 3-class synthetic corpus: ``(corpus, run folder)``."""
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    corpus = write_corpus(root / "corpus", per_class=2, seconds=0.4, sample_rate=TINY_SR)
    config = tiny_config(steps, **train_changes)
    train(corpus, root / "run", config, progress=False)
    return corpus, root / "run"


def tiny_config(steps: int = 2, **train_changes) -> dict:
    """The config tree of :func:`train_tiny_run` (tiny models, 1 thread, CPU)."""
    train = {
        "steps": steps,
        "batch_size": 2,
        "seq_frames": 8,
        "log_every": 1,
        "checkpoint_every": 2,
        "sample_every": 0,
        "sample_frames": 8,
        "device": "cpu",
        "threads": 1,
        "eval_every": 0,
    }
    train.update(train_changes)
    return {
        "train": train,
        "feature": {"sample_rate": TINY_SR, "n_fft": 256, "hop_length": TINY_HOP, "n_mels": TINY_MELS},
        "generator": {"name": "gru", "hidden_size": 8, "num_layers": 1, "latent_dim": 4, "label_dim": 2},
        "discriminator": {"name": "gru", "hidden_size": 8, "num_layers": 1},
    }
