"""Security: pickle payloads in every loader are refused (never run), output names stay inside
``--out``, and the code never shells out or evaluates config values."""

from __future__ import annotations

import ast
import io
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from badfiles import train_tiny_run

import audiogan
from audiogan.checkpoint import load_checkpoint, load_generator
from audiogan.cli import main
from audiogan.errors import CheckpointError

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _ExecPayload:
    """Unpickling this would run Python source through builtins.exec (writes the marker)."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


def malicious_files(folder: Path, marker: Path, fmt: str) -> list[Path]:
    """Real files whose plain unpickling creates ``marker``, in every container torch.load reads."""
    folder.mkdir(parents=True, exist_ok=True)
    good = {"format": f"audiogan-{fmt}", "format_version": 1, "step": 1}
    files = []
    # 1. the zip format torch.save writes, payload hidden inside an otherwise plausible dict
    path = folder / "zip.pt"
    torch.save({**good, "config": {"x": _Payload(marker)}}, path)
    files.append(path)
    # 2. exec payload, zip format
    path = folder / "exec.pt"
    torch.save({**good, "extra": [_ExecPayload(marker)]}, path)
    files.append(path)
    # 3. torch's legacy (non-zip) pickle format
    path = folder / "legacy.pt"
    torch.save({**good, "x": _Payload(marker)}, path, _use_new_zipfile_serialization=False)
    files.append(path)
    # 4. a bare pickle stream named .pt
    path = folder / "bare.pt"
    path.write_bytes(pickle.dumps({**good, "x": _Payload(marker)}, protocol=2))
    files.append(path)
    # 5. a genuine checkpoint whose data.pkl was swapped for a malicious one (tampered zip)
    path = folder / "tampered.pt"
    buf = io.BytesIO()
    torch.save({**good, "w": torch.zeros(3)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = pickle.dumps({**good, "x": _Payload(marker)}, protocol=2)
            out.writestr(info, data)
    files.append(path)
    # sanity: plain (unsafe) unpickling really would create the marker
    assert not marker.exists()
    torch.load(files[0], weights_only=False)
    assert marker.exists(), "the payload does not work, so the test could not fail"
    marker.unlink()
    return files


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-step tiny GRU run (corpus, run folder)."""
    torch.set_num_threads(1)
    return train_tiny_run(tmp_path_factory.mktemp("sec"))


@pytest.mark.parametrize("kind", ["checkpoint", "generator", "vocoder"])
def test_load_checkpoint_refuses_every_payload(tmp_path, kind):
    marker = tmp_path / "PWNED"
    for path in malicious_files(tmp_path / "files", marker, kind):
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path, kind=kind)
        message = str(info.value)
        assert str(path) in message and "\n" not in message
        assert not marker.exists(), f"{path.name}: unpickling ran code"


def _swap(target: Path, evil: Path) -> None:
    shutil.copyfile(evil, target)


def test_every_loader_refuses_a_payload(tiny_run, tmp_path, capsys):
    corpus, run = tiny_run
    marker = tmp_path / "PWNED"
    evil_gen = malicious_files(tmp_path / "g", marker, "generator")
    evil_voc = malicious_files(tmp_path / "v", marker, "vocoder")
    evil_ckpt = malicious_files(tmp_path / "c", marker, "checkpoint")
    tried = 0
    for i, (g, v, c) in enumerate(zip(evil_gen, evil_voc, evil_ckpt)):
        work = tmp_path / f"run{i}"
        shutil.copytree(run, work)
        # generator.pt through the library (load_generator, audiogan.load) and the CLI
        _swap(work / "generator.pt", g)
        with pytest.raises(CheckpointError, match="generator.pt"):
            load_generator(work)
        with pytest.raises(CheckpointError, match="generator.pt"):
            audiogan.load(work, device="cpu")
        assert main(["generate", str(work), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
        assert main(["export", str(work / "generator.pt"), "--out", str(tmp_path / "x.pt")]) == 2
        shutil.copyfile(run / "generator.pt", work / "generator.pt")
        # vocoder.pt: found in the run folder, named with --vocoder, and via --set vocoder.checkpoint=
        _swap(work / "vocoder.pt", v)
        with pytest.raises(CheckpointError, match="vocoder.pt"):
            audiogan.load(work, device="cpu")
        (work / "vocoder.pt").unlink()
        with pytest.raises(CheckpointError, match=v.name):
            audiogan.load(work, device="cpu", vocoder=str(v))
        with pytest.raises(CheckpointError, match=v.name):
            audiogan.load(work, device="cpu", vocoder="istft", vocoder_config={"checkpoint": str(v)})
        assert (
            main(
                [
                    "generate",
                    str(work),
                    "--out",
                    str(tmp_path / "o"),
                    "--device",
                    "cpu",
                    "--vocoder",
                    "istft",
                    "--set",
                    f"vocoder.checkpoint={str(v)!r}",
                ]
            )
            == 2
        )
        assert (
            main(
                [
                    "resynth",
                    str(next(corpus.rglob("*.wav"))),
                    "--out",
                    str(tmp_path / "r"),
                    "--vocoder",
                    str(v),
                    "--device",
                    "cpu",
                ]
            )
            == 2
        )
        # checkpoints/last.pt through train --resume
        _swap(work / "checkpoints" / "last.pt", c)
        assert main(["train", str(corpus), "--run", str(work), "--resume", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("audiogan: error:") == 5 and "Traceback" not in err
        assert "refused" in err or "corrupt" in err
        assert not marker.exists(), f"{g.name}/{v.name}/{c.name}: a loader ran pickle code"
        tried += 10
    print(f"malicious files refused: {tried} loads")


def test_output_names_cannot_escape_out(tiny_run, tmp_path, capsys):
    from audiogan.checkpoint import save_checkpoint

    _, run = tiny_run
    data = load_checkpoint(run / "generator.pt", kind="generator")
    data["class_names"] = ["../../escape", "/abs/path", "a\x00b\nc", ".."][: len(data["class_names"])]
    if len(data["class_names"]) < 2:
        pytest.skip("tiny run has fewer than two classes")
    evil = tmp_path / "evil-run"
    evil.mkdir()
    save_checkpoint(data, evil / "generator.pt")
    out = tmp_path / "deep" / "out"
    assert (
        main(
            [
                "generate",
                str(evil),
                "--out",
                str(out),
                "--per-label",
                "1",
                "--seconds",
                "0.1",
                "--device",
                "cpu",
                "--vocoder",
                "griffinlim",
                "--set",
                "vocoder.n_iter=1",
            ]
        )
        == 0
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != evil]
    assert written and all(out in p.parents for p in written), written
    assert not (tmp_path / "escape").exists() and not Path("/abs/path").exists()
    # user strings as labels: the run's odd class names are written inside --out, unknown ones
    # are one-line errors, never paths
    for label in data["class_names"]:
        assert (
            main(
                [
                    "generate",
                    str(evil),
                    "--out",
                    str(out / "by-label"),
                    "--label",
                    label,
                    "--seconds",
                    "0.1",
                    "--device",
                    "cpu",
                    "--force",
                    "--vocoder",
                    "griffinlim",
                    "--set",
                    "vocoder.n_iter=1",
                ]
            )
            == 0
        )
    for label in ("../../x", "/etc/passwd", "b\x00a"):
        assert (
            main(
                [
                    "generate",
                    str(evil),
                    "--out",
                    str(out),
                    "--label",
                    label,
                    "--seconds",
                    "0.1",
                    "--device",
                    "cpu",
                    "--force",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "\x00" not in err, err  # one line, even with odd class names
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != evil]
    assert all(out in p.parents for p in written), written
    # resynth output names come from input stems, made safe
    odd = tmp_path / "in" / "..weird name%.wav"
    odd.parent.mkdir()
    shutil.copyfile(written[0] if written[0].suffix == ".wav" else next(out.glob("*.wav")), odd)
    assert (
        main(["resynth", str(odd), "--out", str(out / "r"), "--device", "cpu", "--set", "vocoder.n_iter=1"])
        == 0
    )
    assert all((out / "r") in p.parents for p in (out / "r").rglob("*"))


def _python_files() -> list[Path]:
    return sorted(
        p for folder in ("audiogan", "plugins", "benchmarks") for p in (REPO / folder).rglob("*.py")
    )


def test_no_shell_eval_or_exec_in_the_code():
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = (
                    func.id
                    if isinstance(func, ast.Name)
                    else func.attr
                    if isinstance(func, ast.Attribute)
                    else ""
                )
                if name in ("eval", "exec", "system", "popen") and not (
                    isinstance(func, ast.Attribute) and name in ("eval",)
                ):
                    offenders.append(f"{path.name}:{node.lineno} {name}()")
                for kw in node.keywords:
                    if kw.arg == "shell" and not (
                        isinstance(kw.value, ast.Constant) and kw.value.value is False
                    ):
                        offenders.append(f"{path.name}:{node.lineno} shell=")
                if (
                    name == "load"
                    and isinstance(func, ast.Attribute)
                    and getattr(func.value, "id", "") == "torch"
                ):
                    ok = any(
                        kw.arg == "weights_only"
                        and isinstance(kw.value, ast.Constant)
                        and kw.value.value is True
                        for kw in node.keywords
                    )
                    if not ok:
                        offenders.append(f"{path.name}:{node.lineno} torch.load without weights_only=True")
                if name in ("loads", "load") and getattr(
                    func.value if isinstance(func, ast.Attribute) else None, "id", ""
                ) in ("pickle", "marshal", "yaml"):
                    offenders.append(f"{path.name}:{node.lineno} {func.value.id}.{name}()")
    assert not offenders, offenders
    assert len(_python_files()) > 30
