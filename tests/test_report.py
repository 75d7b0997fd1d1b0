"""``audiogan report``: the page's content (every class, decodable audio, numbers from metrics.jsonl,
commands that regenerate the clips) and what it says when parts of a run are missing."""

from __future__ import annotations

import base64
import io
import json
import math
import shlex
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from badfiles import TINY_MELS, TINY_SR, tiny_config
from PIL import Image

from audiogan.cli import main
from audiogan.evaluation.report import read_metrics, svg_chart, write_report

CLASSES = ["chirp", "drums", "pluck"]
PER_LABEL = 2


class Page(HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.audio: list[dict[str, str]] = []
        self.images: list[dict[str, str]] = []
        self.cells: dict[str, dict[str, str]] = {}  # <td data-key=...>
        self.series: dict[tuple[str, int], dict[str, str]] = {}  # (data-key, chart index)
        self.missing: list[str] = []
        self.commands: list[tuple[str, str]] = []  # (data-class, text)
        self.eval_cells: dict[tuple[str, str], str] = {}
        self.classes: list[str] = []
        self._charts = 0
        self._text_into: list[str] | None = None
        self._stack: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "audio":
            self.audio.append(a)
        elif tag == "img":
            self.images.append(a)
        elif tag == "svg":
            self._charts += 1
        elif tag == "g" and "data-key" in a:
            self.series[(a["data-key"], self._charts)] = a
        elif tag == "div" and "cls" in a.get("class", "").split() and "data-class" in a:
            self.classes.append(a["data-class"])
        if tag in ("td", "li", "code"):
            self._stack.append((tag, a))
            self._text_into = []

    def handle_data(self, data: str) -> None:
        if self._text_into is not None:
            self._text_into.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self._stack or self._stack[-1][0] != tag:
            return
        _, a = self._stack.pop()
        text = "".join(self._text_into or [])
        if tag == "td" and "data-key" in a:
            self.cells[a["data-key"]] = a
        elif tag == "td" and "data-metric" in a:
            self.eval_cells[(a["data-set"], a["data-metric"])] = text
        elif tag == "li" and "missing" in a.get("class", ""):
            self.missing.append(text)
        elif tag == "code" and "regen" in a.get("class", ""):
            self.commands.append((self._parent_class(), text))
        self._text_into = [] if self._stack else None

    def _parent_class(self) -> str:
        for tag, a in reversed(self._stack):
            if tag == "li":
                return a.get("data-class", "")
        return ""

    def role(self, role: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for a in self.audio if a["data-role"] == role and (cls is None or a["data-class"] == cls)]


def decode_audio(src: str) -> tuple[np.ndarray, int]:
    prefix = "data:audio/wav;base64,"
    assert src.startswith(prefix)
    return sf.read(io.BytesIO(base64.b64decode(src[len(prefix) :])), dtype="float32")


def decode_png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :])))
    image.load()
    return image


@pytest.fixture(scope="module")
def run_and_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny 3-class run with logs every step, evaluations and samples every 2 steps (about 5 s)."""
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    root = tmp_path_factory.mktemp("report")
    corpus = write_corpus(root / "corpus", per_class=3, seconds=0.4, sample_rate=TINY_SR)
    (corpus / "pluck" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not really")
    config = tiny_config(6, eval_every=2, sample_every=2, eval_clips=4, eval_real_clips=9)
    train(corpus, root / "run", config, progress=False)
    return root / "run", corpus


@pytest.fixture(scope="module")
def page(run_and_corpus, tmp_path_factory) -> tuple[Page, Path]:
    run, _ = run_and_corpus
    out = tmp_path_factory.mktemp("page") / "page.html"
    report = write_report(run, out, per_label=PER_LABEL, device="cpu")
    assert report.path == out and report.classes == CLASSES and report.missing == []
    assert report.bytes == len(out.read_bytes())
    return Page(out.read_text(encoding="utf-8")), out


def test_every_class_has_generated_real_and_vocoded_audio_that_decodes(page) -> None:
    parsed, _ = page
    assert parsed.classes[:3] == CLASSES  # the listening rows, then the "over training" rows
    for name in CLASSES:
        generated, real = parsed.role("generated", name), parsed.role("real", name)
        assert len(generated) == PER_LABEL and len(real) == PER_LABEL
        assert [a["data-seed"] for a in generated] == ["0", "1"]
        assert len(parsed.role("vocoder", name)) == 1
        assert len(parsed.role("training", name)) == 3  # sample steps 2, 4 and 6
        assert [a["data-step"] for a in parsed.role("training", name)] == ["2", "4", "6"]
    for element in parsed.audio:
        assert element["preload"] == "metadata" and "controls" in element
        audio, rate = decode_audio(element["src"])
        assert rate == TINY_SR and len(audio) > 0 and np.isfinite(audio).all()
        assert abs(len(audio) / rate - float(element["data-seconds"])) < 1e-3
        peak = float(np.abs(audio).max())
        assert peak <= 10 ** (-1 / 20) + 1e-3  # normalised to -1 dBFS at most
    assert len(parsed.images) == len(parsed.audio)
    for element in parsed.images:
        image = decode_png(element["src"])
        assert image.size == (int(element["data-frames"]), int(element["data-bins"]))
        assert image.size[1] == TINY_MELS and image.size[0] > 1


def test_real_clips_are_files_of_the_class_and_the_broken_one_is_reported(page, run_and_corpus) -> None:
    parsed, _ = page
    _, corpus = run_and_corpus
    for name in CLASSES:
        for element in parsed.role("real", name):
            audio, _ = decode_audio(element["src"])
            assert len(audio) == int(0.4 * TINY_SR)  # the real file, whole (shorter than the 4 s cap)
    data = json.loads((run_and_corpus[0] / "data.json").read_text())
    assert data["root"] == str(corpus.resolve()) and data["files"] == 9
    assert {k: v["files"] for k, v in data["classes"].items()} == {"chirp": 3, "drums": 3, "pluck": 3}
    assert data["skipped_files"] == 1 and data["device"] == "cpu" and data["threads"] == 1


def test_numbers_match_metrics_jsonl(page, run_and_corpus) -> None:
    parsed, _ = page
    records = read_metrics(run_and_corpus[0] / "metrics.jsonl")
    logs = [r for r in records if "loss_d" in r]
    evals = [r for r in records if "window_fd" in r]
    assert [r["step"] for r in logs] == [1, 2, 3, 4, 5, 6] and [r["step"] for r in evals] == [2, 4, 6]
    last = logs[-1]
    for key in ("loss_d", "loss_g", "loss_fm", "steps_per_s"):
        assert float(parsed.cells[key]["data-value"]) == last[key]
    assert int(parsed.cells["skipped"]["data-value"]) == last["skipped"]
    assert int(parsed.cells["last_step"]["data-value"]) == 6
    assert int(parsed.cells["restores"]["data-value"]) == 0
    best = min(evals, key=lambda r: (r["window_fd"], r["step"]))
    assert float(parsed.cells["best_window_fd"]["data-value"]) == best["window_fd"]
    assert int(parsed.cells["best_step"]["data-value"]) == best["step"]
    # every curve carries exactly the logged values
    plotted = {key: attrs for (key, _), attrs in parsed.series.items()}
    for key, source in (("loss_d", logs), ("loss_g", logs), ("lr_g", logs), ("skipped", logs)):
        steps = [int(s) for s in plotted[key]["data-steps"].split(",")]
        values = [float(v) for v in plotted[key]["data-values"].split(",")]
        assert steps == [r["step"] for r in source]
        assert values == pytest.approx([r[key] for r in source], rel=1e-8)
    fd = [float(v) for v in plotted["window_fd"]["data-values"].split(",")]
    assert fd == pytest.approx([r["window_fd"] for r in evals], rel=1e-8)


def test_regenerate_command_gives_the_clips_on_the_page(page, tmp_path, capsys) -> None:
    parsed, _ = page
    commands = dict(parsed.commands)
    assert set(commands) == set(CLASSES)
    words = shlex.split(commands["drums"])
    assert words[:2] == ["audiogan", "generate"]
    assert words[words.index("--label") + 1] == "drums" and words[words.index("--seed") + 1] == "0"
    words[words.index("--out") + 1] = str(tmp_path / "again")
    assert main(words[1:]) == 0, capsys.readouterr()
    written = sorted((tmp_path / "again").glob("*.wav"))
    assert [p.name for p in written] == ["label-drums_seed-0_000.wav", "label-drums_seed-1_001.wav"]
    for path, element in zip(written, parsed.role("generated", "drums")):
        again, _ = sf.read(path, dtype="float32")
        shown, _ = decode_audio(element["src"])
        # The same PCM samples: bit for bit on most hosts; an AMD EPYC host's float kernels round a
        # few samples (4 of 3200) one 16-bit step apart between the page's and the command's run.
        np.testing.assert_allclose(again, shown, rtol=0, atol=1.5 / 32768)


def test_the_latest_evaluation_is_shown(run_and_corpus, tmp_path, capsys) -> None:
    run, corpus = run_and_corpus
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["evaluate", str(copy), "--data", str(corpus), "--n", "2", "--pca-dim", "4"]) == 0
    capsys.readouterr()
    result = json.loads((copy / "evaluation.json").read_text())
    assert result["format"] == "audiogan-evaluation"
    parsed = Page(write_report(copy, tmp_path / "p.html", per_label=1, device="cpu").path.read_text())
    for name in ("generated", "real", "gaussian"):
        value = result["results"][name]["window_fd"]
        assert parsed.eval_cells[(name, "window_fd")] == f"{value:.3f}"
        accuracy = result["results"][name]["accuracy"]
        assert parsed.eval_cells[(name, "accuracy")] == f"{accuracy:.1%}"


def test_page_says_what_is_missing_and_the_command_still_succeeds(run_and_corpus, tmp_path, capsys) -> None:
    run, corpus = run_and_corpus
    partial = tmp_path / "partial"
    shutil.copytree(run, partial)
    (partial / "metrics.jsonl").unlink()
    shutil.rmtree(partial / "samples")
    data = json.loads((partial / "data.json").read_text())
    data["root"] = str(tmp_path / "moved-away")
    (partial / "data.json").write_text(json.dumps(data))
    out = tmp_path / "pages" / "partial.html"
    assert main(["report", str(partial), "--out", str(out), "--per-label", "1", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith(f"report: {out}")
    parsed = Page(out.read_text())
    text = " ".join(parsed.missing)
    assert "no metrics.jsonl" in text and "no training samples" in text
    assert "moved-away" in text and "not found" in text
    assert all(f"note: {m}" in printed for m in parsed.missing)
    assert not parsed.role("real") and len(parsed.role("generated")) == 3  # still generated, one per class
    # --data brings the real clips back
    assert main(["report", str(partial), "--data", str(corpus), "--out", str(out), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert len(Page(out.read_text()).role("real")) == 3 * PER_LABEL

    # a run that crashed before its first save: only config.toml and an empty metrics.jsonl
    early = tmp_path / "early"
    early.mkdir()
    shutil.copy(run / "config.toml", early / "config.toml")
    (early / "metrics.jsonl").write_text("")
    assert main(["report", str(early)]) == 0
    capsys.readouterr()
    parsed = Page((early / "report.html").read_text())
    text = " ".join(parsed.missing)
    assert "no generator.pt" in text and "metrics.jsonl is empty" in text and "no data.json" in text
    assert not parsed.audio


@pytest.mark.parametrize("kind", ["empty folder", "file", "nothing"])
def test_a_path_that_is_not_a_run_folder_is_one_line(kind, tmp_path, capsys) -> None:
    path = tmp_path / "x"
    if kind == "empty folder":
        path.mkdir()
    elif kind == "file":
        path.write_text("hello")
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not a run folder" in err and str(path) in err


def test_bad_options_are_one_line(run_and_corpus, tmp_path, capsys) -> None:
    run, _ = run_and_corpus
    assert main(["report", str(run), "--per-label", "0"]) == 2
    assert "--per-label" in capsys.readouterr().err
    assert main(["report", str(run), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    with pytest.raises(Exception, match="per_label"):
        write_report(run, tmp_path / "x.html", per_label=0)


def test_unconditional_run(tmp_path) -> None:
    from audiogan.data.synthetic import write_corpus
    from audiogan.training.loop import train

    labelled = write_corpus(tmp_path / "labelled", per_class=2, seconds=0.4, sample_rate=TINY_SR)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, path in enumerate(sorted(labelled.rglob("*.wav"))):
        shutil.copy(path, flat / f"clip-{i}.wav")
    train(flat, tmp_path / "run", tiny_config(2), progress=False)
    report = write_report(tmp_path / "run", per_label=2, device="cpu")
    assert report.classes == [] and report.path == tmp_path / "run" / "report.html"
    parsed = Page(report.path.read_text())
    assert len(parsed.role("generated")) == 2 and len(parsed.role("real")) == 2
    assert len(parsed.role("training")) == 1  # the final samples
    (_, command), *_ = parsed.commands
    assert "--label" not in command and "--n 2 --seed 0" in command


def test_svg_chart_breaks_lines_at_non_finite_values_and_marks_the_best() -> None:
    svg = svg_chart("t", [("a", [1, 2, 3, 4], [1.0, float("nan"), 2.0, 3.0])], marks=[(3, 2.0, "best")])
    assert svg.count("<polyline") == 1 and svg.count('r="2.5"') == 1  # point 1 alone, then 3-4
    assert 'data-step="3"' in svg and ">best<" in svg
    assert "no values logged" in svg_chart("t", [("a", [1], [math.inf])])


def test_the_page_and_training_agree_on_what_no_step_limit_is() -> None:
    from audiogan.evaluation.report import NO_STEP_LIMIT
    from audiogan.training.config import UNLIMITED_STEPS

    assert NO_STEP_LIMIT == UNLIMITED_STEPS  # the page shows "no limit" where training has none
