"""Building the report: generate, pick real clips, assemble the sections, write the page."""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from audiogan.errors import AudioganError, DataError
from audiogan.fileio import write_text_atomic

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

from audiogan.evaluation.report.media import _Cell, _Media
from audiogan.evaluation.report.page import (
    _curves_html,
    _evaluation_html,
    _header,
    _how_html,
    _listen_html,
    _missing_html,
    _page,
    _run_name,
    _settings_html,
    _training_html,
)
from audiogan.evaluation.report.run import (
    CONFIG_FILE,
    DATA_FILE,
    DEFAULT_PER_LABEL,
    GENERATOR_FILE,
    MAX_SECONDS,
    METRICS_FILE,
    REPORT_FILE,
    SAMPLES_DIR,
    TRAINING_STEPS_SHOWN,
    Report,
    _feature_config,
    _read_run,
    _real_clips,
    _Row,
    _Run,
    is_run_folder,
)


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
            # a whole-sound run's clips keep their learned lengths unless a length is forced
            learned = seconds is None and synth.sound is not None
            length = None if learned else _clip_seconds(name, seconds, run, shown, media.fc.sample_rate)
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
    root: Path,
    name: str | None,
    n: int,
    seed: int,
    seconds: float | None,
    synth: Synthesizer,
    device: str | None,
) -> str:
    parts = ["audiogan", "generate", str(root), "--out", "clips"]
    if name is not None:
        parts += ["--label", name]
    parts += ["--n", str(n), "--seed", str(seed)]
    if seconds is not None:  # None: a whole-sound run's learned lengths, generate's default
        parts += ["--seconds", f"{seconds:g}"]
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
