"""Scanning a data folder: which files are audio candidates, their labels, and what is skipped.

Rules (shared by training, ``audiogan prepare`` and evaluation): files are listed recursively in
sorted order; hidden files and folders (leading dot, which includes the cache) are ignored; only
names ending in :data:`audiogan.data.audio.AUDIO_EXTENSIONS` are candidates; symlinks are followed only
while they stay inside the root, and each real folder is visited once (symlink loops end). When
any file sits in a subfolder, first-level subfolder names are class labels and files directly in
the root are skipped as unlabelled; otherwise every file is unlabelled.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from audiogan.data import audio
from audiogan.errors import DataError

__all__ = ["Candidate", "Scan", "scan_folder", "REASON_OUTSIDE", "REASON_UNLABELLED"]

REASON_OUTSIDE = "symlink leads outside the folder"
REASON_UNLABELLED = "in the root of a folder with class subfolders (no label)"


@dataclasses.dataclass(slots=True)
class Candidate:
    """An audio-named file found by a scan: relative POSIX path, its class name, size and mtime."""

    rel: str
    label: str | None
    size: int
    mtime_ns: int


@dataclasses.dataclass
class Scan:
    """What a folder scan found: candidates in sorted order and files skipped before decoding."""

    root: Path
    candidates: list[Candidate]
    skipped: list[tuple[str, str]]
    labelled: bool


_EXTENSIONS = frozenset(audio.AUDIO_EXTENSIONS)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def scan_folder(root: str | os.PathLike) -> Scan:
    """Recursively list audio-named files under ``root`` in a stable (sorted) order.

    Hidden files and folders (leading dot) are ignored; symlinks are followed only while they
    stay inside ``root`` (each real folder is visited once, so symlink loops end). When any file
    sits in a first-level subfolder, the subfolder names are class labels and files directly in
    ``root`` are skipped as unlabelled; otherwise every file is unlabelled.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    real_root = os.path.realpath(root)
    found: list[tuple[str, os.DirEntry]] = []
    skipped: list[tuple[str, str]] = []
    visited = {real_root}
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skipped.append((prefix or ".", f"{audio.REASON_UNREADABLE} ({exc.strerror})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not _inside(target, real_root):
                    skipped.append((rel, REASON_OUTSIDE))
                    continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                real = os.path.realpath(entry.path)
                if real in visited:  # symlink loop or a second link to the same folder
                    continue
                visited.add(real)
                stack.append((entry.path, rel + "/"))
            elif "." in entry.name and "." + entry.name.rpartition(".")[2].lower() in _EXTENSIONS:
                found.append((rel, entry))
    found.sort(key=lambda item: item[0])
    labelled = any("/" in rel for rel, _ in found)
    candidates = []
    for rel, entry in found:
        label = rel.split("/", 1)[0] if "/" in rel else None
        if labelled and label is None:
            skipped.append((rel, REASON_UNLABELLED))
            continue
        try:
            st = entry.stat()  # follows symlinks (already checked to stay inside root)
        except OSError:
            skipped.append((rel, audio.REASON_UNREADABLE))
            continue
        candidates.append(Candidate(rel, label, st.st_size, st.st_mtime_ns))
    skipped.sort()
    return Scan(root, candidates, skipped, labelled)
