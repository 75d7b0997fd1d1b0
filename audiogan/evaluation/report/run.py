"""Reading a run folder for the report: what it holds and what it lacks, and the real clips to compare."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiogan.config import FeatureConfig, load_toml
from audiogan.data.dataset import DEFAULT_MIN_SECONDS
from audiogan.errors import AudioganError, DataError

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

from audiogan.evaluation.report.media import _Cell

# Names inside a run folder (the training room's RunFolder writes them; this room may not import it).
CONFIG_FILE, GENERATOR_FILE, METRICS_FILE = "config.toml", "generator.pt", "metrics.jsonl"


DATA_FILE, SAMPLES_DIR, VOCODER_FILE, EVALUATION_FILE = (
    "data.json",
    "samples",
    "vocoder.pt",
    "evaluation.json",
)


REPORT_FILE = "report.html"  # default page name, inside the run folder


DEFAULT_PER_LABEL = 2  # generated and real clips per class


MAX_SECONDS = 4.0  # longest clip on the page (real clips are cut, generated ones made this long at most)


TRAINING_STEPS_SHOWN = 4  # sample steps shown per class in "over training"


NO_STEP_LIMIT = 10**9  # training's UNLIMITED_STEPS (this room may not import training; a test ties them)


@dataclasses.dataclass
class Report:
    """What :func:`write_report` wrote."""

    path: Path
    bytes: int
    classes: list[str]
    clips: int  # audio players on the page
    missing: list[str]  # what the page says is missing, one sentence each


def is_run_folder(path: str | Path) -> bool:
    """A folder training wrote into: it has ``config.toml``, ``generator.pt``, ``metrics.jsonl`` or
    ``checkpoints/``."""
    path = Path(path)
    return path.is_dir() and any(
        (path / name).exists() for name in (CONFIG_FILE, GENERATOR_FILE, METRICS_FILE, "checkpoints")
    )


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` in order (a torn or non-object line is left out)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
            records.append(record)
    return records


@dataclasses.dataclass
class _Run:
    """What the run folder holds, read once."""

    root: Path
    config: dict[str, Any] | None
    metrics: list[dict[str, Any]] | None
    data: dict[str, Any] | None
    evaluation: tuple[Path, dict[str, Any]] | None
    sample_steps: list[tuple[int, Path]]
    vocoder_metrics: list[dict[str, Any]] | None
    notes: list[str]  # problems reading files that exist


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _latest_evaluation(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest ``audiogan evaluate`` result kept in the run folder (``evaluation.json``, or any
    JSON file with the evaluation format tag, e.g. from ``--output``)."""
    found = []
    for path in root.glob("*.json"):
        value = _read_json(path)
        if value is not None and value.get("format") == "audiogan-evaluation" and "results" in value:
            found.append((path.stat().st_mtime, path.name, path, value))
    if not found:
        return None
    _, _, path, value = max(found, key=lambda t: (t[0], t[1]))
    return path, value


def _read_run(root: Path) -> _Run:
    notes: list[str] = []
    config = None
    if (root / CONFIG_FILE).is_file():
        try:
            config = load_toml(root / CONFIG_FILE)
        except AudioganError as exc:
            notes.append(str(exc))
    metrics = read_metrics(root / METRICS_FILE) if (root / METRICS_FILE).is_file() else None
    data = _read_json(root / DATA_FILE) if (root / DATA_FILE).is_file() else None
    steps = []
    if (root / SAMPLES_DIR).is_dir():
        for folder in (root / SAMPLES_DIR).iterdir():
            name = folder.name
            if folder.is_dir() and name.startswith("step-") and name[5:].isdigit():
                steps.append((int(name[5:]), folder))
    vocoder_metrics = root / "vocoder" / METRICS_FILE
    return _Run(
        root=root,
        config=config,
        metrics=metrics,
        data=data,
        evaluation=_latest_evaluation(root),
        sample_steps=sorted(steps),
        vocoder_metrics=read_metrics(vocoder_metrics) if vocoder_metrics.is_file() else None,
        notes=notes,
    )


def _feature_config(synth: Synthesizer | None, run: _Run) -> FeatureConfig:
    if synth is not None:
        return synth.feature_config
    if run.config is not None and isinstance(run.config.get("feature"), dict):
        try:
            return FeatureConfig.from_dict(run.config["feature"])
        except AudioganError:
            pass
    return FeatureConfig()


def _real_clips(
    data_dir: Path, classes: list[str], per_label: int, seed: int, sample_rate: int
) -> dict[str | None, list[tuple[str, np.ndarray]]]:
    """Up to ``per_label`` decodable clips per class (``None``: any file, for an unconditional run),
    chosen at random with ``seed``, resampled to ``sample_rate`` and cut to ``MAX_SECONDS``."""
    from audiogan.data.audio import load_audio
    from audiogan.data.scan import scan_folder

    scan = scan_folder(data_dir)
    groups: dict[str | None, list[str]] = {}
    for cand in scan.candidates:
        key = cand.label if classes else None
        groups.setdefault(key, []).append(cand.rel)
    out: dict[str | None, list[tuple[str, np.ndarray]]] = {}
    for key in classes or [None]:
        paths = groups.get(key, [])
        chosen: list[tuple[str, np.ndarray]] = []
        for i in np.random.default_rng(seed).permutation(len(paths)):
            try:
                audio = load_audio(scan.root / paths[int(i)], sample_rate)
            except DataError:
                continue
            if len(audio) < DEFAULT_MIN_SECONDS * sample_rate:
                continue
            chosen.append((paths[int(i)], audio[: int(MAX_SECONDS * sample_rate)]))
            if len(chosen) == per_label:
                break
        out[key] = chosen
    return out


@dataclasses.dataclass
class _Row:
    """One class on the page: its clips and the command that regenerates the generated ones."""

    name: str | None
    generated: list[_Cell]
    real: list[_Cell]
    vocoder: list[_Cell]
    seconds: float | None
    command: str | None
