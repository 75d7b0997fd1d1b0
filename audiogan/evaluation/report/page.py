"""The report page's sections as HTML: listening rows, curves, evaluation, settings, commands."""

from __future__ import annotations

import math
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiogan import __version__
from audiogan.data.dataset import format_duration

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

from audiogan.evaluation.report.charts import _e, _num, svg_chart
from audiogan.evaluation.report.media import _Cell, _Media
from audiogan.evaluation.report.run import (
    CONFIG_FILE,
    DATA_FILE,
    EVALUATION_FILE,
    GENERATOR_FILE,
    METRICS_FILE,
    NO_STEP_LIMIT,
    VOCODER_FILE,
    _Row,
    _Run,
)


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
            length = f"{row.seconds:g} s" if row.seconds is not None else "learned lengths"
            lines.append(
                f'<li data-class="{_e(row.name or "")}">{_e(label)} ({files}, {length}): '
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
