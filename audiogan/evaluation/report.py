"""One HTML page to see and hear a run (``audiogan report``): :func:`write_report`.

The page is a single self-contained file: every clip is an embedded WAV (a ``data:`` URI under an
``<audio>`` player), every spectrogram an embedded PNG, every curve an inline SVG, and there is
no script, so it opens offline in any browser, from any folder, and can be mailed as it is. It
holds, from the top:

* per class, ``per_label`` generated clips beside ``per_label`` real clips from the data folder
  and one real clip copied through the vocoder (is the vocoder the weak link?), each with a
  spectrogram thumbnail (all thumbnails share one colour scale);
* the training samples the run wrote over time (``samples/step-XXXXXX/``), a few steps per class;
* training curves from ``metrics.jsonl`` (losses, skipped steps, learning rates, steps/s), the
  in-training evaluation (window / frame FD by step, best step marked) and the vocoder's own
  curves when it was trained;
* the latest ``audiogan evaluate`` table (``evaluation.json`` in the run folder), when one exists;
* the run's settings (``config.toml``), the data summary training recorded (``data.json``),
  versions and step;
* the exact commands that regenerate every clip (label, seed, length, vocoder, device).

Whatever the run folder lacks (no metrics yet, no samples, no ``generator.pt``, the data folder
moved) is listed at the top of the page instead of failing. A path that is not a run folder at
all is a :class:`~audiogan.errors.DataError`.

Clips are peak-normalised to -1 dBFS with at most 40 dB of gain (the ``audiogan generate``
defaults), real ones too, so that levels do not decide the comparison; real clips longer than
``MAX_SECONDS`` are cut to their first ``MAX_SECONDS``.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import shlex
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import torch

from audiogan import __version__
from audiogan.config import FeatureConfig, load_toml
from audiogan.data.dataset import DEFAULT_MIN_SECONDS, format_duration
from audiogan.errors import AudioganError, DataError
from audiogan.features import MelFrontEnd
from audiogan.fileio import write_text_atomic

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

__all__ = ["REPORT_FILE", "Report", "is_run_folder", "read_metrics", "svg_chart", "write_report"]

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
HEADROOM_DB, MAX_GAIN_DB = -1.0, 40.0  # the level every clip is scaled to (generate's defaults)
DYNAMIC_RANGE_DB = 80.0  # spectrogram thumbnails show this far below the page's loudest bin
MAX_POINTS = 1500  # points per curve (longer series are thinned evenly, the last point kept)
NO_STEP_LIMIT = 10**9  # training's UNLIMITED_STEPS (this room may not import training; a test ties them)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


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


# --------------------------------------------------------------------------- media


@dataclasses.dataclass
class _Cell:
    """One clip on the page: audio, its log-mel (for the thumbnail) and what it is."""

    audio: np.ndarray
    mel: np.ndarray  # (T, M) raw log-mel
    caption: str
    role: str  # generated | real | vocoder | training
    title: str = ""
    attrs: dict[str, str] = dataclasses.field(default_factory=dict)


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Peak to ``HEADROOM_DB`` with at most ``MAX_GAIN_DB`` of gain (silence stays silence)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-9:
        return audio
    gain = min(10 ** (HEADROOM_DB / 20) / peak, 10 ** (MAX_GAIN_DB / 20))
    return (audio * np.float32(gain)).astype(np.float32)


def _wav_uri(audio: np.ndarray, sample_rate: int) -> str:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), int(sample_rate), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png_uri(mel: np.ndarray, vmin: float, vmax: float) -> tuple[str, int, int]:
    """A spectrogram thumbnail (one pixel per frame and mel bin, low bins at the bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps

    scaled = np.clip((np.asarray(mel, dtype=np.float32).T[::-1] - vmin) / max(vmax - vmin, 1e-6), 0.0, 1.0)
    rgb = (colormaps["magma"](scaled)[..., :3] * 255).astype(np.uint8)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", optimize=True)
    height, width = scaled.shape
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), width, height


class _Media:
    """Turns audio into cells (log-mel through the run's own front end) and cells into HTML."""

    def __init__(self, feature_config: FeatureConfig) -> None:
        self.fc = feature_config
        self.front = MelFrontEnd(feature_config)
        self.cells: list[_Cell] = []

    def cell(self, audio: np.ndarray, caption: str, role: str, title: str = "", **attrs: str) -> _Cell:
        audio = _normalise(audio)
        with torch.no_grad():
            mel = self.front.log_mel(torch.from_numpy(np.ascontiguousarray(audio)))[0].numpy()
        names = {k: "class" if k == "cls" else k.replace("_", "-") for k in attrs}  # data-class, data-seed
        made = _Cell(audio, mel, caption, role, title, {names[k]: v for k, v in attrs.items()})
        self.cells.append(made)
        return made

    def scale(self) -> tuple[float, float]:
        """One colour scale for every thumbnail: the loudest bin on the page down by DYNAMIC_RANGE_DB."""
        floor = math.log(self.fc.log_floor)
        top = max((float(c.mel.max()) for c in self.cells if c.mel.size), default=0.0)
        top = max(top, floor + 1e-3)
        return max(floor, top - DYNAMIC_RANGE_DB / 20 * math.log(10)), top

    def render(self, cell: _Cell, scale: tuple[float, float]) -> str:
        png, width, height = _png_uri(cell.mel, *scale)
        attrs = "".join(f' data-{k}="{_e(v)}"' for k, v in cell.attrs.items())
        seconds = len(cell.audio) / self.fc.sample_rate
        title = f' title="{_e(cell.title)}"' if cell.title else ""
        return (
            f'<figure class="clip {cell.role}"{title}>'
            f'<img class="spec" alt="spectrogram: {_e(cell.caption)}" src="{png}" '
            f'data-frames="{width}" data-bins="{height}">'
            f'<audio controls preload="metadata" data-role="{cell.role}" data-seconds="{seconds:.3f}"{attrs} '
            f'src="{_wav_uri(cell.audio, self.fc.sample_rate)}"></audio>'
            f"<figcaption>{_e(cell.caption)} · {seconds:.2f} s</figcaption></figure>"
        )


# --------------------------------------------------------------------------- charts


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    return f"{value:.3g}" if 1e-3 <= magnitude < 1e5 else f"{value:.2e}"


def _thin(steps: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    if len(steps) <= MAX_POINTS:
        return steps, values
    index = sorted(set(np.linspace(0, len(steps) - 1, MAX_POINTS).round().astype(int).tolist()))
    return [steps[i] for i in index], [values[i] for i in index]


def svg_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    marks: Sequence[tuple[float, float, str]] = (),
    events: Sequence[tuple[float, str]] = (),
    width: int = 560,
    height: int = 220,
) -> str:
    """An inline SVG line chart of ``(name, steps, values)`` series against the step.

    Non-finite values break a line. ``marks`` are ``(step, value, label)`` points ringed and
    labelled (the best evaluation); ``events`` are ``(step, label)`` vertical lines (divergence
    restores). Each line carries its points as ``data-steps`` / ``data-values``.
    """
    left, right, top, bottom = 58, 14, 40, 30
    points = [
        (s, v)
        for _, steps, values in series
        for s, v in zip(steps, values)
        if isinstance(v, (int, float)) and math.isfinite(v)
    ]
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="16" class="ctitle">{_e(title)}</text>',
    ]
    if not points:
        out.append(f'<text x="{left}" y="{height // 2}" class="empty">no values logged</text></svg>')
        return "".join(out)
    xs = [p[0] for p in points] + [e[0] for e in events]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    low = y0
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    else:
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad
    if low >= 0 > y0:  # counts and distances never go below zero: neither does their axis
        y0 = 0.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(step: float) -> float:
        return left + (step - x0) / (x1 - x0) * plot_w

    def py(value: float) -> float:
        return top + (1 - (value - y0) / (y1 - y0)) * plot_h

    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>'
        + "".join(
            f'<text x="{left - 4}" y="{py(v) + 4:.1f}" class="ytick">{_e(_num(v))}</text>'
            f'<line x1="{left}" x2="{left + plot_w}" y1="{py(v):.1f}" y2="{py(v):.1f}" class="grid"/>'
            for v in (y0, (y0 + y1) / 2, y1)
        )
        + "".join(
            f'<text x="{px(s):.1f}" y="{height - 12}" text-anchor="{anchor}">{int(round(s))}</text>'
            for s, anchor in ((x0, "start"), ((x0 + x1) / 2, "middle"), (x1, "end"))
        )
        + f'<text x="{left + plot_w}" y="{height - 1}" class="xlabel">step</text>'
    )
    for step, label in events:
        out.append(
            f'<line x1="{px(step):.1f}" x2="{px(step):.1f}" y1="{top}" y2="{top + plot_h}" class="event">'
            f"<title>{_e(label)}</title></line>"
        )
    for i, (name, steps, values) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        steps, values = _thin(list(steps), list(values))
        runs: list[list[str]] = [[]]
        for s, v in zip(steps, values):
            if isinstance(v, (int, float)) and math.isfinite(v):
                runs[-1].append(f"{px(s):.1f},{py(v):.1f}")
            elif runs[-1]:
                runs.append([])
        data = (
            f'data-key="{_e(name)}" data-steps="{",".join(str(int(s)) for s in steps)}" '
            f'data-values="{",".join(f"{v:.9g}" if isinstance(v, (int, float)) else "nan" for v in values)}"'
        )
        shapes = []
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                shapes.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                shapes.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}"/>')
        out.append(f'<g class="series" {data}>' + "".join(shapes) + "</g>")
        at = left + i * min(110, plot_w // len(series))
        out.append(
            f'<rect x="{at}" y="26" width="10" height="3" fill="{colour}"/>'
            f'<text x="{at + 14}" y="31" class="legend">{_e(name)}</text>'
        )
    for step, value, label in marks:
        if math.isfinite(value):
            anchor = "end" if px(step) > left + plot_w * 0.7 else "start"
            dx = -8 if anchor == "end" else 8
            out.append(
                f'<circle cx="{px(step):.1f}" cy="{py(value):.1f}" r="5" class="mark" '
                f'data-step="{int(step)}"/>'
                f'<text x="{px(step) + dx:.1f}" y="{py(value) - 7:.1f}" text-anchor="{anchor}" '
                f'class="marklabel">{_e(label)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- the run folder


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


# --------------------------------------------------------------------------- real clips


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


# --------------------------------------------------------------------------- the page


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    per_label: int = DEFAULT_PER_LABEL,
    seconds: float | None = None,
    seed: int = 0,
    vocoder: str | Path | None = None,
    device: str | None = None,
    plugins: Sequence[str] = (),
    training_steps: int = TRAINING_STEPS_SHOWN,
) -> Report:
    """Write the run's HTML page (see the module docstring) and return what it holds.

    :param out: the page (default ``run_dir/report.html``); its folder is created.
    :param data_dir: real recordings to compare with (default: the folder training recorded in
        ``data.json``, when it still exists).
    :param per_label: generated and real clips per class.
    :param seconds: length of the generated clips (default: the class's median real length from
        ``data.json``, else 1 s; at most ``MAX_SECONDS``).
    :param seed: first clip seed of every class (clip k uses ``seed + k``), and the real-clip pick.
    :param vocoder: / :param device: / :param plugins: as for :func:`audiogan.load`.
    :param training_steps: sample steps shown per class in "over training".
    :raises DataError: ``run_dir`` is not a run folder.
    """
    from audiogan.errors import ConfigError

    root = Path(run_dir)
    if not is_run_folder(root):
        what = (
            "does not exist" if not root.exists() else "is not a folder" if not root.is_dir() else "has none"
        )
        raise DataError(
            f"{root} is not a run folder (one holds {CONFIG_FILE}, {GENERATOR_FILE}, {METRICS_FILE} "
            f"or checkpoints/; this path {what})"
        )
    if per_label < 1:
        raise ConfigError(f"per_label={per_label} must be >= 1")
    if seconds is not None and not 0 < seconds <= 600:
        raise ConfigError(f"seconds={seconds} must be > 0 and at most 600")
    page = Path(out) if out is not None else root / REPORT_FILE
    run = _read_run(root)
    missing: list[str] = []

    synth, synth_error = None, None
    if (root / GENERATOR_FILE).is_file():
        from audiogan.generation.generate import load

        try:
            synth = load(root, device=device, vocoder=vocoder, plugins=plugins)
        except AudioganError as exc:
            if vocoder is not None:  # a vocoder asked for by name is the caller's mistake: say so
                raise
            synth_error = str(exc)
            missing.append(f"{GENERATOR_FILE} could not be loaded, so no clips were generated: {exc}")
    else:
        missing.append(f"no {GENERATOR_FILE} (training has not saved yet), so no clips were generated")
    if run.config is None:
        missing.append(f"no {CONFIG_FILE}: the run's settings are unknown")
    if run.metrics is None:
        missing.append(f"no {METRICS_FILE}: no training curves")
    elif not run.metrics:
        missing.append(f"{METRICS_FILE} is empty: no training curves yet")
    if not run.sample_steps:
        missing.append(f"no training samples ({SAMPLES_DIR}/step-XXXXXX/): nothing to hear over training")
    missing.extend(run.notes)

    fc = _feature_config(synth, run)
    if synth is not None:
        classes = list(synth.class_names)
    elif run.data is not None and run.data.get("classes"):
        classes = sorted(run.data["classes"])
    else:
        classes = []

    recorded = run.data.get("root") if run.data is not None else None
    real_root = Path(data_dir) if data_dir is not None else Path(recorded) if recorded else None
    real: dict[str | None, list[tuple[str, np.ndarray]]] = {}
    if real_root is None:
        missing.append(f"no data folder: none was given and the run has no {DATA_FILE}, so no real clips")
    elif not real_root.is_dir():
        where = "given" if data_dir is not None else f"recorded in {DATA_FILE}"
        missing.append(f"data folder {real_root} ({where}) not found, so no real clips")
        real_root = None
    else:
        real = _real_clips(real_root, classes, per_label, seed, fc.sample_rate)
    if run.data is None:
        missing.append(f"no {DATA_FILE}: the data summary was not recorded (older runs lack it)")

    media = _Media(fc)
    rows = _listen_rows(media, synth, classes, real, per_label, seconds, seed, run, root, device)
    over_training = _training_samples(media, run, classes, training_steps)
    scale = media.scale()

    step = _run_step(synth, run)
    sections = [
        _header(root, synth, run, step),
        _missing_html(missing),
        _listen_html(media, rows, scale, real_root, synth, synth_error),
        _training_html(media, over_training, scale, run),
        _curves_html(run),
        _evaluation_html(run, root, real_root),
        _settings_html(run, synth),
        _how_html(rows, root, real_root, synth, per_label, seed, seconds, vocoder, device),
    ]
    text = _page(f"audiogan report: {_run_name(root)}", sections)
    page.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(page, text)
    return Report(page, len(text.encode("utf-8")), classes, len(media.cells), missing)


@dataclasses.dataclass
class _Row:
    """One class on the page: its clips and the command that regenerates the generated ones."""

    name: str | None
    generated: list[_Cell]
    real: list[_Cell]
    vocoder: list[_Cell]
    seconds: float | None
    command: str | None


def _clip_seconds(
    name: str | None, seconds: float | None, run: _Run, real: list[tuple[str, np.ndarray]], sr: int
) -> float:
    """Length of a class's generated clips: ``seconds``, else the class's median real length (from
    ``data.json``, else the real clips shown), else 1 s; within [0.1, MAX_SECONDS], to 10 ms."""
    if seconds is not None:
        return round(float(seconds), 2)
    median = None
    if run.data is not None:
        entry = (run.data.get("classes") or {}).get(name) if name is not None else None
        median = entry.get("median_seconds") if isinstance(entry, dict) else run.data.get("median_seconds")
    if not median and real:
        median = float(np.median([len(a) / sr for _, a in real]))
    return round(min(max(float(median or 1.0), 0.1), MAX_SECONDS), 2)


def _listen_rows(
    media: _Media,
    synth: Synthesizer | None,
    classes: list[str],
    real: dict[str | None, list[tuple[str, np.ndarray]]],
    per_label: int,
    seconds: float | None,
    seed: int,
    run: _Run,
    root: Path,
    device: str | None,
) -> list[_Row]:
    rows = []
    for name in classes or [None]:
        shown = real.get(name, [])
        row = _Row(name, [], [], [], None, None)
        for rel, audio in shown:
            row.real.append(media.cell(audio, Path(rel).name, "real", rel, cls=name or ""))
        if synth is not None:
            length = _clip_seconds(name, seconds, run, shown, media.fc.sample_rate)
            row.seconds = length
            with warnings.catch_warnings():  # quiet and silent clips are marked in their captions
                warnings.simplefilter("ignore")
                clips = synth.render(synth.requests(per_label, name, seed=seed), length)
            for clip in clips:
                level = " (quiet: gain capped)" if clip.gain_capped else " (silent)" if clip.silent else ""
                row.generated.append(
                    media.cell(
                        clip.audio,
                        f"seed {clip.seed}{level}",
                        "generated",
                        cls=name or "",
                        seed=str(clip.seed),
                    )
                )
            if shown:  # copy-synthesis of the first real clip: what the vocoder alone does
                rel, audio = shown[0]
                row.vocoder.append(
                    media.cell(
                        _through_vocoder(synth, audio),
                        f"{Path(rel).name} → {synth.vocoder_name}",
                        "vocoder",
                        rel,
                        cls=name or "",
                    )
                )
            row.command = _generate_command(root, name, per_label, seed, length, synth, device)
        rows.append(row)
    return rows


def _through_vocoder(synth: Synthesizer, audio: np.ndarray) -> np.ndarray:
    from audiogan.generation.sampling import fit_length

    with torch.no_grad():
        frames = synth.front.features(torch.from_numpy(np.ascontiguousarray(audio)).to(synth.device))
        wave = synth.vocode(frames)[0].float().cpu().numpy()
    return fit_length(wave, len(audio))


def _generate_command(
    root: Path, name: str | None, n: int, seed: int, seconds: float, synth: Synthesizer, device: str | None
) -> str:
    parts = ["audiogan", "generate", str(root), "--out", "clips"]
    if name is not None:
        parts += ["--label", name]
    parts += ["--n", str(n), "--seed", str(seed), "--seconds", f"{seconds:g}"]
    vocoder_file = synth.meta.get("vocoder_file")
    parts += ["--vocoder", str(vocoder_file) if vocoder_file else synth.vocoder_name]
    parts += ["--device", str(device) if device else synth.device.type]
    return " ".join(shlex.quote(p) for p in parts)


def _training_samples(
    media: _Media, run: _Run, classes: list[str], shown: int
) -> list[tuple[str, list[tuple[int, _Cell]]]]:
    """Per class, the first sample of up to ``shown`` evenly spaced sample steps (first and last kept)."""
    from audiogan.data.audio import load_audio

    steps = run.sample_steps
    if not steps or shown < 1:
        return []
    index = sorted(set(np.linspace(0, len(steps) - 1, min(shown, len(steps))).round().astype(int).tolist()))
    out = []
    for name in classes or [None]:
        stem = f"{name}-0" if name is not None else "sample-0"
        cells = []
        for i in index:
            step, folder = steps[i]
            path = folder / f"{stem}.wav"
            if not path.is_file():
                continue
            try:
                audio = load_audio(path, media.fc.sample_rate)
            except DataError:
                continue
            cells.append(
                (
                    step,
                    media.cell(
                        audio,
                        f"step {step}",
                        "training",
                        str(path.relative_to(run.root)),
                        cls=name or "",
                        step=str(step),
                    ),
                )
            )
        if cells:
            out.append((name if name is not None else "all", cells))
    return out


def _run_step(synth: Synthesizer | None, run: _Run) -> int | None:
    if synth is not None and isinstance(synth.meta.get("step"), int):
        return int(synth.meta["step"])
    if run.metrics:
        return int(max(r["step"] for r in run.metrics))
    return None


# --------------------------------------------------------------------------- sections


def _run_name(root: Path) -> str:
    """The run's name for a title: the folder, with its parent (``audiogan-demo/run``)."""
    parts = root.resolve().parts
    return "/".join(parts[-2:]) if len(parts) > 2 else str(root.resolve())


def _header(root: Path, synth: Synthesizer | None, run: _Run, step: int | None) -> str:
    trained_with = synth.meta.get("audiogan_version") if synth is not None else None
    facts = [
        f"run <code>{_e(root)}</code>",
        f'step <b data-key="step">{step if step is not None else "unknown"}</b>',
        f"page by audiogan {_e(__version__)}"
        + (f" (trained with {_e(trained_with)})" if trained_with else ""),
        time.strftime("%Y-%m-%d %H:%M", time.localtime()),
    ]
    return f'<header><h1>{_e(_run_name(root))}</h1><p class="facts">{" · ".join(facts)}</p></header>'


def _missing_html(missing: list[str]) -> str:
    if not missing:
        return ""
    items = "".join(f'<li class="missing">{_e(m)}</li>' for m in missing)
    return f'<section id="missing"><h2>What is missing</h2><ul>{items}</ul></section>'


def _group(title: str, cells: list[_Cell], media: _Media, scale: tuple[float, float], empty: str) -> str:
    body = "".join(media.render(c, scale) for c in cells) if cells else f'<p class="none">{_e(empty)}</p>'
    return f'<div class="group"><div class="glabel">{_e(title)}</div><div class="cells">{body}</div></div>'


def _listen_html(
    media: _Media,
    rows: list[_Row],
    scale: tuple[float, float],
    real_root: Path | None,
    synth: Synthesizer | None,
    synth_error: str | None,
) -> str:
    no_gen = synth_error or f"no {GENERATOR_FILE}"
    no_real = "no real clips (see above)" if real_root is None else "no readable file of this class"
    voc = synth.vocoder_name if synth is not None else "vocoder"
    parts = [
        '<section id="listen"><h2>Listen: generated beside real</h2>',
        '<p class="hint">Each row: clips generated for the class, real recordings of the class, and one '
        f"real recording copied through the vocoder ({_e(voc)}): if that one already sounds wrong, the "
        "vocoder is the weak link, not the generator. Every clip is scaled to a -1 dBFS peak; thumbnails "
        "share one colour scale.</p>",
    ]
    for row in rows:
        name = row.name if row.name is not None else "all clips (unconditional run)"
        anchor = f' id="class-{_e(row.name)}"' if row.name is not None else ""
        parts.append(
            f'<div class="cls"{anchor} data-class="{_e(row.name or "")}"><h3>{_e(name)}</h3><div class="row">'
        )
        parts.append(_group("generated", row.generated, media, scale, no_gen))
        parts.append(_group("real", row.real, media, scale, no_real))
        if row.vocoder or synth is not None:
            parts.append(_group(f"real → {voc}", row.vocoder, media, scale, no_real))
        parts.append("</div>")
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _training_html(
    media: _Media, over: list[tuple[str, list[tuple[int, _Cell]]]], scale: tuple[float, float], run: _Run
) -> str:
    if not over:
        return ""
    total = len(run.sample_steps)
    parts = [
        '<section id="over-training"><h2>Over training</h2>',
        f'<p class="hint">The samples the run wrote ({total} sample steps; {len(over[0][1])} shown), '
        "same latents each time, so only the weights changed.</p>",
    ]
    for name, cells in over:
        parts.append(
            f'<div class="cls" data-class="{_e(name)}"><h3>{_e(name)}</h3>'
            '<div class="row"><div class="cells">'
        )
        parts.extend(media.render(cell, scale) for _, cell in cells)
        parts.append("</div></div></div>")
    parts.append("</section>")
    return "".join(parts)


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for r in records:
        if key in r:
            value = r[key]
            steps.append(float(r["step"]))
            values.append(float(value) if isinstance(value, (int, float)) else float("nan"))
    return steps, values


def _glance(label: str, key: str, value: Any, shown: str | None = None) -> str:
    data = f' data-value="{_e(repr(value))}"' if value is not None else ""
    text = shown if shown is not None else (_num(value) if isinstance(value, float) else str(value))
    return f'<tr><th>{_e(label)}</th><td data-key="{_e(key)}"{data}>{_e(text)}</td></tr>'


def _curves_html(run: _Run) -> str:
    parts = ['<section id="curves"><h2>Training curves</h2>']
    if not run.metrics:
        parts.append(f'<p class="none">No training curves: {METRICS_FILE} is missing or empty.</p></section>')
        return "".join(parts)
    logs = [r for r in run.metrics if "event" not in r and "window_fd" not in r and "loss_d" in r]
    evals = [r for r in run.metrics if "window_fd" in r]
    restores = [r for r in run.metrics if r.get("event") == "divergence_restore"]
    events = [(float(r["step"]), str(r.get("message", "divergence restore"))) for r in restores]
    rows = []
    if logs:
        last = logs[-1]
        rows.append(_glance("last logged step", "last_step", int(last["step"])))
        for key in ("loss_d", "loss_g", "loss_fm"):
            if key in last:
                rows.append(_glance(f"{key} (last log)", key, float(last[key])))
        rows.append(_glance("skipped steps (non-finite)", "skipped", int(last.get("skipped", 0))))
        rows.append(
            _glance("steps/s (last log)", "steps_per_s", float(last.get("steps_per_s", float("nan"))))
        )
    rows.append(_glance("divergence restores", "restores", len(restores)))
    best = None
    finite = [r for r in evals if isinstance(r["window_fd"], (int, float)) and math.isfinite(r["window_fd"])]
    if finite:
        best = min(finite, key=lambda r: (r["window_fd"], r["step"]))
        rows.append(_glance("best window FD", "best_window_fd", float(best["window_fd"])))
        rows.append(_glance("best step", "best_step", int(best["step"])))
        rows.append(_glance("evaluations", "evaluations", len(evals)))
    parts.append(f'<table class="glance">{"".join(rows)}</table><div class="charts">')
    if logs:
        parts.append(
            svg_chart(
                "losses",
                [(k, *_series(logs, k)) for k in ("loss_d", "loss_g", "loss_fm", "penalty") if _has(logs, k)],
                events=events,
            )
        )
    if evals:
        marks = (
            [
                (
                    float(best["step"]),
                    float(best["window_fd"]),
                    f"best {best['window_fd']:.3g} @ {best['step']}",
                )
            ]
            if best
            else []
        )
        parts.append(
            svg_chart(
                "in-training evaluation (lower is better)",
                [(k, *_series(evals, k)) for k in ("window_fd", "frame_fd") if _has(evals, k)],
                marks=marks,
            )
        )
        if any("diversity_within_ratio" in r for r in evals):  # below 1: clips of a class alike
            parts.append(
                svg_chart(
                    "in-training within-class diversity / real (collapse: near 0)",
                    [("diversity_within_ratio", *_series(evals, "diversity_within_ratio"))],
                )
            )
    if logs:
        parts.append(
            svg_chart(
                "learning rates",
                [(k, *_series(logs, k)) for k in ("lr_g", "lr_d") if _has(logs, k)],
                events=events,
            )
        )
        parts.append(
            svg_chart("skipped steps (cumulative)", [("skipped", *_series(logs, "skipped"))], events=events)
        )
        parts.append(svg_chart("steps per second", [("steps_per_s", *_series(logs, "steps_per_s"))]))
    if run.vocoder_metrics:
        vlogs = [r for r in run.vocoder_metrics if "event" not in r]
        keys = sorted({k for r in vlogs for k in r if k.startswith("loss")})
        if keys:
            parts.append(svg_chart("vocoder training losses", [(k, *_series(vlogs, k)) for k in keys]))
    parts.append("</div>")
    changes = _lr_changes(logs, restores)
    if changes:
        parts.append(
            '<h3>Learning-rate changes</h3><ul class="events">'
            + "".join(f"<li>{_e(c)}</li>" for c in changes)
            + "</ul>"
        )
    parts.append("</section>")
    return "".join(parts)


def _has(records: list[dict[str, Any]], key: str) -> bool:
    return any(key in r and r[key] != 0 for r in records) or (
        key != "penalty" and any(key in r for r in records)
    )


def _lr_changes(logs: list[dict[str, Any]], restores: list[dict[str, Any]]) -> list[str]:
    out = [f"step {r['step']}: {r.get('message', 'divergence restore')}" for r in restores]
    previous = None
    for r in logs:
        now = (r.get("lr_g"), r.get("lr_d"))
        if previous is not None and now != previous:
            out.append(
                f"step {r['step']}: lr_g {previous[0]:g} → {now[0]:g}, lr_d {previous[1]:g} → {now[1]:g}"
            )
        previous = now
    return out


def _evaluation_html(run: _Run, root: Path, real_root: Path | None) -> str:
    from audiogan.evaluation.evaluate import ROWS, per_class_rows

    data = shlex.quote(str(real_root)) if real_root is not None else "DATA_DIR"
    hint = f"audiogan evaluate {shlex.quote(str(root))} --data {data}"
    if run.evaluation is None:
        return (
            '<section id="evaluation"><h2>Evaluation</h2><p class="none">No evaluation yet: '
            f"<code>{_e(hint)}</code> scores the run against real recordings and keeps the result "
            f"as {EVALUATION_FILE}, which this page then shows.</p></section>"
        )
    path, result = run.evaluation
    columns = [("generated", "generated"), ("real", "real (floor)"), ("gaussian", "iid gaussian")]
    head = "<tr><th>metric</th>" + "".join(f"<th>{_e(t)}</th>" for _, t in columns) + "</tr>"
    body = []
    for title, key, fmt in ROWS:
        cells = []
        for name, _ in columns:
            value = (result.get("results", {}).get(name) or {}).get(key)
            ok = isinstance(value, (int, float)) and math.isfinite(value)
            shown = fmt.format(value) if ok else "-"
            cells.append(f'<td data-set="{name}" data-metric="{key}">{_e(shown)}</td>')
        body.append(f"<tr><th>{_e(title)}</th>{''.join(cells)}</tr>")
    per_class = per_class_rows(result)
    classes = ""
    if per_class:
        head2 = (
            "<tr><th>class</th>"
            + "".join(f"<th>{_e(t)}: within-class diversity / real</th>" for _, t in columns)
            + "".join(f"<th>{_e(t)}: coverage</th>" for _, t in columns)
            + "</tr>"
        )
        rows = []
        for cls, ratios, covers in per_class:
            cells = [
                f'<td data-set="{name}" data-class="{_e(cls)}" data-class-metric="{key}">'
                f"{_e(f'{v:.2f}' if isinstance(v, (int, float)) and math.isfinite(v) else '-')}</td>"
                for key, values in (("diversity_within_ratio", ratios), ("coverage", covers))
                for (name, _), v in zip(columns, values)
            ]
            rows.append(f"<tr><th>{_e(cls)}</th>{''.join(cells)}</tr>")
        classes = f'<h3>Per class</h3><table class="eval per-class">{head2}{"".join(rows)}</table>'
    settings = result.get("settings", {})
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    return (
        '<section id="evaluation"><h2>Evaluation</h2>'
        f'<p class="hint">{_e(path.name)} ({when}): real folder <code>{_e(result.get("data"))}</code>, '
        f"window {_e(settings.get('window'))} frames, level {_e(settings.get('level'))}, mel space "
        f"{_e(settings.get('mel_space'))}. Lower is better for FD, NDB and JS; the real column is the floor, "
        "iid gaussian has no temporal structure. Within-class diversity / real and coverage far below "
        "the real column mean the clips of a class are alike (collapse).</p>"
        f'<table class="eval">{head}{"".join(body)}</table>{classes}</section>'
    )


def _kv_table(title: str, section: Any) -> str:
    if not isinstance(section, dict):
        return ""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in section.items())
    return f'<div class="kv"><h3>{_e(title)}</h3><table>{rows}</table></div>'


# the [train] settings the page shows (config.toml, folded below them, has all)
TRAIN_KEYS = (
    "steps max_minutes batch_size seq_frames loss lr_g lr_d feature_matching ema_decay seed eval_every"
)


def _data_facts(data: dict[str, Any]) -> dict[str, Any]:
    seconds = float(data.get("seconds", 0.0))
    classes = data.get("classes") or {}
    facts: dict[str, Any] = {
        "data folder": data.get("root"),
        "files used": data.get("files"),
        "audio": f"{format_duration(seconds)} ({seconds / 3600:.3f} h)",
        "classes": ", ".join(f"{k} ({v.get('files')})" for k, v in classes.items()) or "none (unlabelled)",
        "skipped files": data.get("skipped_files", 0),
    }
    for reason, entry in (data.get("skipped") or {}).items():
        count, examples = entry.get("count", 0), entry.get("examples", [])
        facts[f"  skipped: {reason}"] = (
            f"{count}: " + ", ".join(examples[:3]) + (", ..." if count > 3 else "")
        )
    threads, processes = data.get("threads"), data.get("processes", 1)
    facts["device"] = f"{data.get('device')}, {threads} thread(s), {processes} process(es)"
    return facts


def _settings_html(run: _Run, synth: Synthesizer | None) -> str:
    parts = ['<section id="settings"><h2>Run settings and data</h2><div class="kvs">']
    if run.data is not None:
        parts.append(_kv_table("data (recorded when training started)", _data_facts(run.data)))
    else:
        parts.append(f'<div class="kv"><h3>data</h3><p class="none">not recorded (no {DATA_FILE})</p></div>')
    config = run.config or {}
    for kind in ("generator", "discriminator", "vocoder", "feature"):
        if kind in config:
            parts.append(_kv_table(f"[{kind}]", config[kind]))
    if isinstance(config.get("train"), dict):
        train = {k: config["train"][k] for k in TRAIN_KEYS.split() if k in config["train"]}
        if isinstance(train.get("steps"), int) and train["steps"] >= NO_STEP_LIMIT:
            train["steps"] = "no limit (max_minutes ends the run)"
        parts.append(_kv_table("[train] (main settings)", train))
    voc: dict[str, Any] = {}
    if synth is not None:
        voc_file = synth.meta.get("vocoder_file")
        voc["clips on this page voiced by"] = synth.vocoder_name + (f" ({voc_file})" if voc_file else "")
    trained = (run.root / VOCODER_FILE).is_file()
    voc["trained vocoder (vocoder.pt)"] = "yes" if trained else "none (Griffin-Lim needs no training)"
    parts.append(_kv_table("vocoder", voc))
    parts.append("</div>")
    if (run.root / CONFIG_FILE).is_file():
        text = (run.root / CONFIG_FILE).read_text(encoding="utf-8", errors="replace")
        parts.append(
            f"<details><summary>{CONFIG_FILE} (every setting)</summary><pre>{_e(text)}</pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _how_html(
    rows: list[_Row],
    root: Path,
    real_root: Path | None,
    synth: Synthesizer | None,
    per_label: int,
    seed: int,
    seconds: float | None,
    vocoder: str | Path | None,
    device: str | None,
) -> str:
    page = ["audiogan", "report", str(root)]
    if real_root is not None:
        page += ["--data", str(real_root)]
    page += ["--per-label", str(per_label), "--seed", str(seed)]
    if seconds is not None:
        page += ["--seconds", f"{seconds:g}"]
    if vocoder is not None:
        page += ["--vocoder", str(vocoder)]
    if device is not None:
        page += ["--device", device]
    lines = [f"<li>this page: <code>{_e(' '.join(shlex.quote(p) for p in page))}</code></li>"]
    for row in rows:
        if row.command:
            label = row.name if row.name is not None else "all"
            files = ", ".join(f"seed {seed + k}" for k in range(per_label))
            lines.append(
                f'<li data-class="{_e(row.name or "")}">{_e(label)} ({files}, {row.seconds:g} s): '
                f'<code class="regen">{_e(row.command)}</code></li>'
            )
    if synth is not None and real_root is not None:
        lines.append(
            "<li>a real clip through the vocoder: <code>"
            + _e(
                f"audiogan resynth {shlex.quote(str(real_root))}/CLASS/FILE --out resynth "
                f"--run {shlex.quote(str(root))}"
            )
            + "</code></li>"
        )
    return (
        '<section id="how"><h2>How this was made</h2>'
        '<p class="hint">Clip k of a row uses seed S+k (S = --seed); on the same device the command gives '
        "bit-identical WAVs (label-NAME_seed-S_000.wav ...), here peak-normalised to -1 dBFS with at most "
        "40 dB of gain, as <code>audiogan generate</code> does by default.</p>"
        f'<ul class="commands">{"".join(lines)}</ul></section>'
    )


_CSS = (
    "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:14px 22px;"
    "color:#1d1d1f;background:#f7f7f8}"
    "h1{font-size:21px;margin:0}"
    "h2{font-size:17px;margin:22px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}"
    "h3{font-size:14px;margin:0 0 4px}.facts,.hint{color:#555;margin:3px 0 8px}.hint{font-size:13px}"
    "code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef;padding:1px 3px;"
    "border-radius:3px}"
    ".cls{background:#fff;border:1px solid #e2e2e6;border-radius:6px;padding:7px 10px;margin:7px 0}"
    ".row{display:flex;flex-wrap:wrap;gap:18px}.group{display:flex;flex-direction:column}"
    ".glabel{font-size:11px;color:#666;text-transform:uppercase;letter-spacing:.05em;margin-bottom:2px}"
    ".cells{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:208px}"
    "img.spec{width:208px;height:64px;display:block;image-rendering:pixelated;border-radius:3px}"
    "audio{width:208px;height:30px;display:block;margin-top:3px}"
    "figcaption{font-size:11px;color:#555;overflow-wrap:anywhere}"
    ".none{color:#8a6d3b;font-style:italic}"
    "#missing ul{background:#fff6e6;border:1px solid #f0c36d;border-radius:6px;padding:8px 8px 8px 28px}"
    ".charts{display:flex;flex-wrap:wrap;gap:10px}"
    ".chart{background:#fff;border:1px solid #e2e2e6;border-radius:6px}"
    ".chart .frame{fill:none;stroke:#ccc}.chart .grid{stroke:#eee}"
    ".chart text{font:11px system-ui,sans-serif;fill:#444}"
    ".chart .ctitle{font-weight:600;font-size:12px}.chart .ytick{text-anchor:end}"
    ".chart .xlabel{text-anchor:end}"
    ".chart polyline{stroke-width:1.6}.chart .event{stroke:#d62728;stroke-dasharray:3 3}"
    ".chart .mark{fill:none;stroke:#000;stroke-width:1.5}.chart .empty{fill:#8a6d3b}"
    "table{border-collapse:collapse;background:#fff}"
    "th,td{padding:2px 9px;border-bottom:1px solid #eee;text-align:left;font-size:13px}"
    "table.glance{margin-bottom:8px}table.eval td{text-align:right}"
    ".kvs{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}"
    ".kv td{max-width:420px;overflow-wrap:anywhere}"
    "pre{background:#fff;border:1px solid #e2e2e6;padding:8px;font-size:12px}"
    ".commands li{margin:3px 0}"
)


def _page(title: str, sections: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )
