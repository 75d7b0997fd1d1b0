"""The on-disk feature cache (one contiguous float32 array + a JSON manifest).

Layout of a cache folder (``<root>/.audiogan-cache/<layout_key>/`` by default)::

    manifest.json            written last, atomically: the only thing that makes a build count
    features-<token>.f32     raw log-mel frames of every decodable file, (total_frames, n_mels)

The manifest maps each file's relative path, size and mtime_ns to its rows in the array (or to
the reason it could not be decoded, so broken files are not re-read on every run). A build writes
a new array under a temporary name, renames it, then replaces the manifest; an interrupted build
therefore leaves the previous complete cache (or none) in force, never a half-written one.
Unchanged files are copied from the previous array instead of being decoded again.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import stat
import sys
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from audiogan.config import FeatureConfig
from audiogan.data import audio
from audiogan.data.extract import EXTRACTOR_VERSION, extract_many
from audiogan.data.scan import REASON_OUTSIDE, REASON_UNLABELLED, Candidate, Scan, scan_folder  # noqa: F401 (re-exported)
from audiogan.data.stream import StreamResult, stream_log_mel
from audiogan.errors import DataError
from audiogan.fileio import write_text_atomic

MANIFEST = "manifest.json"
CACHE_FORMAT = "audiogan-feature-cache"
# The storage format's version; what the features mean is versioned by EXTRACTOR_VERSION.
CACHE_VERSION = 3  # 2: records stored as columns (parse 2-3x faster); 3: the note column
# "note": for a file that is used but not whole (damaged part-way): what was left out and why.
COLUMNS = ("path", "size", "mtime_ns", "offset", "frames", "seconds", "reason", "note")
DEFAULT_CACHE_NAME = ".audiogan-cache"

REASON_TOO_SHORT = "shorter than min_seconds"


# ----------------------------------------------------------------------------- decoding workers


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker process; the pool is the parallelism


def _extract_chunk(
    root: str, rels: list[str], fc_dict: dict[str, Any]
) -> list[tuple[str, Any, float, str | None]]:
    fc = FeatureConfig.from_dict(fc_dict)
    results = extract_many([os.path.join(root, rel) for rel in rels], fc)  # decode + resample + log-mel
    return [(rel, *result) for rel, result in zip(rels, results)]


def _extract_all(root: Path, rels: list[str], fc: FeatureConfig, workers: int) -> Iterable[list[tuple]]:
    """Yield chunks of extraction results; in parallel worker processes when worth it."""
    chunk = max(8, min(64, len(rels) // (workers * 8) + 1))
    chunks = [rels[i : i + chunk] for i in range(0, len(rels), chunk)]
    fc_dict = fc.to_dict()
    if workers <= 1 or len(chunks) <= 1:
        import torch

        # Tiny per-clip ops gain nothing from intra-op threads and thrash on a busy machine.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for part in chunks:
                yield _extract_chunk(str(root), part, fc_dict)
        finally:
            torch.set_num_threads(threads)
        return
    # fork is fast (no re-import of torch) and safe here: workers only run single-threaded CPU ops.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as pool:
        futures = [pool.submit(_extract_chunk, str(root), part, fc_dict) for part in chunks]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


# ----------------------------------------------------------------------------- the cache itself


@dataclasses.dataclass
class CacheIndex:
    """A validated, complete cache: the manifest plus the memory-mapped array."""

    folder: Path
    manifest: dict[str, Any]
    data: np.ndarray  # (total_frames, n_mels) float32, read-only memory map
    decoded: int = 0  # files decoded by the build that produced this index (0 on a cache hit)
    reused: int = 0  # files whose features were carried over from the previous cache
    hit: bool = False  # True when the cache was already up to date (nothing written)

    @property
    def columns(self) -> dict[str, list[Any]]:
        """Per-file records as columns (``COLUMNS``), rows sorted by relative path."""
        return self.manifest["files"]

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        """Per-file records keyed by relative path (built on first use)."""
        if not hasattr(self, "_entries"):
            cols = self.columns
            keys = COLUMNS[1:]
            self._entries = {p: dict(zip(keys, row)) for p, *row in zip(*(cols[k] for k in COLUMNS))}
        return self._entries

    def rows_for(self, scan: Scan) -> dict[str, list[Any]]:
        """Columns with one row per ``scan.candidates`` entry, in the same order."""
        rels = [c.rel for c in scan.candidates]
        if self.columns["path"] == rels:  # the usual case: the manifest was written from this scan
            return self.columns
        entries = self.entries
        return {k: [entries[r][k] if k != "path" else r for r in rels] for k in COLUMNS}

    @property
    def nbytes(self) -> int:
        """Size of the cache on disk (array + manifest)."""
        total = 0
        for name in (MANIFEST, self.manifest["data"]):
            try:
                total += (self.folder / name).stat().st_size
            except OSError:
                pass
        return total


def _writable(folder: Path) -> bool:
    # root's os.access ignores mode bits: a folder marked read-only for everyone (a shared data
    # set, a CI copy) is treated as read-only for root too, so nothing is written into it.
    try:
        no_write_bits = stat.S_IMODE(folder.stat().st_mode) & 0o222 == 0
    except OSError:
        return False
    return not no_write_bits and os.access(folder, os.W_OK)


def cache_folder(
    root: str | os.PathLike, fc: FeatureConfig, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Where the cache for ``root`` under ``fc``'s layout lives.

    Default ``<root>/.audiogan-cache/<layout_key>``; when ``root`` is read-only (and has no cache
    yet) the user's cache folder (``$XDG_CACHE_HOME/audiogan`` or ``~/.cache/audiogan``) is used
    instead. With ``cache_dir`` (or in the fallback) the folder name also carries a hash of the
    data folder's real path, so one cache folder can serve several corpora.
    """
    if cache_dir is None:
        inside = Path(root) / DEFAULT_CACHE_NAME
        if inside.is_dir() or _writable(Path(root)):
            return inside / fc.layout_key()
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cache_dir = Path(base) / "audiogan"
    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:8]
    return Path(cache_dir) / f"{fc.layout_key()}-{digest}"


def read_cache(folder: Path, fc: FeatureConfig) -> CacheIndex | None:
    """The complete cache in ``folder``, or None when there is none or it fails validation."""
    path = folder / MANIFEST
    for attempt in range(3):
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            ok = (
                manifest.get("format") == CACHE_FORMAT
                and manifest.get("version") == CACHE_VERSION
                and manifest.get("extractor") == EXTRACTOR_VERSION
                and manifest.get("layout") == fc.layout()
            )
            if not ok:
                return None
            rows, n_mels = int(manifest["total_frames"]), fc.n_mels
            data_path = folder / manifest["data"]
            st = data_path.stat()
            if st.st_size != rows * n_mels * 4:
                raise ValueError(f"{data_path.name} has the wrong size")
            # Rewritten behind our back (same size, new bytes): its mtime no longer matches.
            if manifest.get("data_mtime_ns") is not None and st.st_mtime_ns != manifest["data_mtime_ns"]:
                raise ValueError(f"{data_path.name} was modified after the cache was built")
            _check_rows(manifest["files"], rows)
            if rows:
                data = np.memmap(data_path, dtype=np.float32, mode="r", shape=(rows, n_mels))
            else:
                data = np.zeros((0, n_mels), dtype=np.float32)
            return CacheIndex(folder, manifest, data)
        except FileNotFoundError:
            # A concurrent build (another rank or process) replaced the manifest and removed
            # the array between our two reads: read the new manifest.
            if attempt < 2:
                continue
            warnings.warn(f"ignoring feature cache {folder}: its array keeps disappearing", stacklevel=2)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"ignoring damaged feature cache {folder}: {exc}", stacklevel=2)
        return None
    return None


def _check_rows(columns: dict[str, list[Any]], rows: int) -> None:
    """Every record's rows lie inside the array (a damaged manifest must not read garbage)."""
    n = len(columns["path"])
    if any(len(columns[k]) != n for k in COLUMNS):
        raise ValueError("manifest columns differ in length")
    for offset, frames, reason in zip(columns["offset"], columns["frames"], columns["reason"]):
        if reason is None and not (
            isinstance(offset, int)
            and isinstance(frames, int)
            and 0 <= offset
            and 0 < frames
            and offset + frames <= rows
        ):
            raise ValueError(f"manifest rows {offset!r}+{frames!r} lie outside the array")


def _matches(index: CacheIndex, scan: Scan) -> bool:
    """Whether ``index`` holds exactly the scanned files with their current size and mtime."""
    cols = index.columns
    return (
        cols["path"] == [c.rel for c in scan.candidates]
        and cols["size"] == [c.size for c in scan.candidates]
        and cols["mtime_ns"] == [c.mtime_ns for c in scan.candidates]
    )


def _unchanged(entry: dict[str, Any] | None, cand: Candidate) -> bool:
    return entry is not None and entry["size"] == cand.size and entry["mtime_ns"] == cand.mtime_ns


def build_cache(
    scan: Scan,
    fc: FeatureConfig,
    folder: Path,
    workers: int | None = None,
    progress: bool = True,
) -> CacheIndex:
    """Bring the cache in ``folder`` up to date with ``scan``; decode only new or changed files.

    A cache hit (nothing added, changed or removed) reads and returns the existing cache without
    writing anything. Builds of one cache folder are serialised with a lock file, so processes
    started together (DDP ranks) decode once: the others wait, then find a cache hit.
    """
    old, todo, hit = _plan(scan, fc, folder)
    if hit:
        return old  # type: ignore[return-value]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create feature cache {folder}: {exc.strerror}; choose another with --cache-dir"
        ) from None
    with _locked(folder):
        old, todo, hit = _plan(scan, fc, folder)  # another process may have built it meanwhile
        if hit:
            return old  # type: ignore[return-value]
        return _write(scan, fc, folder, old, todo, workers, progress)


def _plan(scan: Scan, fc: FeatureConfig, folder: Path) -> tuple[CacheIndex | None, list[str], bool]:
    """The current cache, the files to decode, and whether the cache is already up to date."""
    old = read_cache(folder, fc)
    if old is not None and _matches(old, scan):
        old.reused, old.hit = len(scan.candidates), True
        return old, [], True
    old_entries = old.entries if old is not None else {}
    todo = [c.rel for c in scan.candidates if not _unchanged(old_entries.get(c.rel), c)]
    return old, todo, False


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent builds stay safe, only duplicated
        yield
        return
    try:
        handle = open(folder / ".lock", "a+b")
    except OSError as exc:
        raise DataError(
            f"cannot write to feature cache {folder}: {exc.strerror}; choose another with --cache-dir"
        ) from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the handle closes
        yield


def _write(
    scan: Scan,
    fc: FeatureConfig,
    folder: Path,
    old: CacheIndex | None,
    todo: list[str],
    workers: int | None,
    progress: bool,
) -> CacheIndex:
    """Write a new array + manifest: decode ``todo``, copy every other file's rows from ``old``."""
    old_entries = old.entries if old is not None else {}
    _remove_stale_temporaries(folder)
    workers = max(1, int(workers if workers is not None else min(os.cpu_count() or 1, 8)))
    token = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    data_name = f"features-{token}.f32"
    tmp_path = folder / f".{data_name}.tmp"
    entries: dict[str, dict[str, Any]] = {}
    by_rel = {c.rel: c for c in scan.candidates}
    offset = 0
    # Per-bin sums over every cached frame, so statistics never need a pass over the array.
    total = np.zeros(fc.n_mels, dtype=np.float64)
    total_sq = np.zeros(fc.n_mels, dtype=np.float64)

    def append(out: Any, frames: np.ndarray) -> None:
        nonlocal offset, total, total_sq
        out.write(frames.tobytes())
        wide = frames.astype(np.float64)
        total += wide.sum(axis=0)
        total_sq += np.square(wide).sum(axis=0)
        offset += int(frames.shape[0])

    try:
        with open(tmp_path, "wb") as out:
            bar = _progress_bar(len(todo), progress)
            try:
                # Long files are streamed here, block by block straight into the array (bounded
                # memory); the rest go by size, so each chunk holds clips of similar length.
                long = [rel for rel in todo if _header_seconds(scan.root / rel) > audio.STREAM_SECONDS]
                for rel in long:
                    cand, result = by_rel[rel], StreamResult()
                    entry = {"size": cand.size, "mtime_ns": cand.mtime_ns, "offset": offset, "note": None}
                    try:
                        for block in stream_log_mel(scan.root / rel, fc, result):
                            append(out, block)
                    except audio.AudioFileError as exc:
                        result.problem, entry["reason"] = None, exc.reason
                    frames = offset - entry["offset"]
                    entry.update(seconds=result.seconds if frames else 0.0, note=result.problem)
                    entry.setdefault("reason", None if frames else (result.problem or audio.REASON_NO_FRAMES))
                    if frames:
                        entry["frames"] = frames
                    else:
                        del entry["offset"]
                    entries[rel] = entry
                    bar.update(1)
                short = set(todo) - set(long)
                ordered = sorted(short, key=lambda rel: by_rel[rel].size)
                for results in _extract_all(scan.root, ordered, fc, workers if len(ordered) >= 64 else 1):
                    for rel, frames, seconds, reason in results:
                        cand = by_rel[rel]
                        entry = {
                            "size": cand.size,
                            "mtime_ns": cand.mtime_ns,
                            "seconds": seconds,
                            "reason": reason,
                        }
                        if frames is not None:
                            entry.update(offset=offset, frames=int(frames.shape[0]))
                            append(out, frames)
                        entries[rel] = entry
                    bar.update(len(results))
            finally:
                bar.close()
            reused = 0
            for cand in scan.candidates:
                if cand.rel in entries:
                    continue
                entry = dict(old_entries[cand.rel])
                if entry.get("frames"):
                    assert old is not None
                    start = entry["offset"]
                    entry["offset"] = offset
                    append(out, np.ascontiguousarray(old.data[start : start + entry["frames"]]))
                entries[cand.rel] = entry
                reused += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_path, folder / data_name)
        data_mtime_ns = (folder / data_name).stat().st_mtime_ns  # a rename keeps the mtime
        manifest = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "extractor": EXTRACTOR_VERSION,  # features from other code are stale (see data/extract.py)
            "layout": fc.layout(),
            "root": os.path.realpath(scan.root),
            "data": data_name,
            "total_frames": offset,
            "data_mtime_ns": data_mtime_ns,
            "totals": {"sum": total.tolist(), "sumsq": total_sq.tolist()},
            "files": _to_columns(entries),
        }
        # The manifest goes last: until it lands, readers still see the previous complete cache.
        write_text_atomic(folder / MANIFEST, json.dumps(manifest, separators=(",", ":")))
    except BaseException as exc:
        if tmp_path.exists():
            tmp_path.unlink()
        if isinstance(exc, OSError):  # disk full, permissions: the user can act on it
            raise DataError(f"cannot write feature cache {folder}: {exc.strerror or exc}") from None
        raise
    _remove_unreferenced(folder)
    index = read_cache(folder, fc)
    if index is None:
        raise DataError(f"feature cache {folder} could not be read back after writing it")
    index.decoded, index.reused = len(todo), reused
    return index


def _header_seconds(path: Path) -> float:
    """The duration a file's header announces (0 when it cannot be read: the normal path reports it)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) or path.stat().st_size == 0:
            return 0.0  # FIFOs and empty files: opening one could block, and there is nothing to stream
        info = soundfile.info(str(path))
        return info.frames / info.samplerate if info.samplerate > 0 else 0.0
    except Exception:
        return 0.0


def _to_columns(entries: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    rels = sorted(entries)
    columns: dict[str, list[Any]] = {"path": rels}
    for key in COLUMNS[1:]:
        columns[key] = [entries[rel].get(key) for rel in rels]
    return columns


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="decoding", file=sys.stderr, disable=not enabled or total == 0)


def _remove_stale_temporaries(folder: Path, age_s: float = 3600.0) -> None:
    # Leftovers of an interrupted build; young ones may belong to a build running right now.
    now = time.time()
    for path in folder.glob(".features-*.tmp"):
        try:
            if now - path.stat().st_mtime > age_s:
                path.unlink()
        except OSError:
            pass


def _remove_unreferenced(folder: Path) -> None:
    # Re-read the manifest: a concurrent build may have replaced ours, and its array must stay.
    try:
        keep = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError):
        return
    for path in folder.glob("features-*.f32"):
        if path.name != keep:
            try:
                path.unlink()  # readers holding a memory map keep their (now unlinked) copy
            except OSError:
                pass
