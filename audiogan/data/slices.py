"""What ``prepare --split`` leaves behind: the event listing (CSV) and, on request, the events as WAVs.

Slices are cut from the source files at their own sample rate (seeking, so a long take is never
read whole) into ``DIR/<label>/<file stem>_<k>.wav``: the folder of slices is itself a training
folder with the same classes.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import soundfile as sf

from audiogan.data.audio import to_mono, write_audio
from audiogan.data.dataset import FeatureSet
from audiogan.errors import ConfigError, DataError
from audiogan.fileio import write_text_atomic

__all__ = ["export_slices", "write_listing"]


def write_listing(dataset: FeatureSet, path: Path) -> Path:
    """``file,start_s,end_s,label`` for every event, written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "start_s", "end_s", "label"])
    for rel, start, end, label in dataset.events():
        writer.writerow([rel, f"{start:.4f}", f"{end:.4f}", label or ""])
    write_text_atomic(path, buffer.getvalue())
    return path


def _stem(rel: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(rel).stem)[:60] or "take"


def export_slices(dataset: FeatureSet, folder: Path, progress: bool = True) -> int:
    """Write every event as a 16-bit WAV under ``folder`` (which must not hold files yet)."""
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} is not empty; give a new folder for the slices")
    numbers: dict[str, int] = {}
    events = dataset.events()
    iterator = events
    if progress:
        from tqdm import tqdm

        iterator = tqdm(events, desc="slices", unit="event", leave=False)
    for rel, start, end, label in iterator:
        source = Path(dataset.root) / rel
        try:
            with sf.SoundFile(source) as handle:
                rate = handle.samplerate
                handle.seek(min(int(start * rate), handle.frames))
                data = handle.read(int((end - start) * rate), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DataError(f"{source}: cannot read the event at {start:.2f} s ({exc})") from None
        key = f"{label or ''}/{_stem(rel)}"
        numbers[key] = numbers.get(key, 0) + 1
        target = folder / (label or "") / f"{_stem(rel)}_{numbers[key]:04d}.wav"
        write_audio(target, to_mono(data), rate)
    return len(events)
