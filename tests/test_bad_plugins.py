"""Misbehaving plugins: each failure is a one-line message naming the plugin; a training run with a
plugin that breaks mid-run stops cleanly with its last checkpoint intact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from badfiles import TINY_SR, tiny_config

from audiogan.checkpoint import load_checkpoint
from audiogan.cli import main
from audiogan.config import to_toml
from audiogan.errors import PluginError

TEMPLATE = '''
import dataclasses
import torch
from torch import nn
import audiogan

MODE = {mode!r}
FAIL_AFTER = {fail_after}  # forward calls that behave before the fault (training faults)
if MODE == "import":
    raise RuntimeError("boom at import")


class BadGenerator(audiogan.Generator):
    """Test generator that misbehaves on purpose."""

    name = "badgen"

    @dataclasses.dataclass
    class Config:
        """Latent size."""

        latent_dim: int = 4

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        if MODE == "construct":
            raise ValueError("boom in __init__")
        self.latent_dim = self.config.latent_dim
        self.proj = nn.Linear(self.latent_dim, feature_config.n_mels)
        self.calls = 0

    def forward(self, z, labels, n_frames, state=None):
        self.calls += 1
        frames = torch.tanh(self.proj(z))[:, None, :].expand(-1, n_frames, -1)
        late = self.calls > FAIL_AFTER
        if MODE == "forward" and late:
            raise RuntimeError("boom in forward")
        if MODE == "nan" and late:
            frames = frames * float("nan")
        if MODE == "shape" and late:
            frames = frames[:, :, :-1]
        return frames, state


@audiogan.hookimpl
def register_generators():
    if MODE == "register":
        raise KeyError("boom in register_generators")
    return [BadGenerator]
'''


def plugin_file(folder: Path, mode: str, fail_after: int = 0) -> Path:
    """A plugin file whose generator 'badgen' fails in ``mode`` after ``fail_after`` good forward calls."""
    path = folder / f"bad_{mode}_{fail_after}.py"
    path.write_text(TEMPLATE.format(mode=mode, fail_after=fail_after))
    return path


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audiogan.data.synthetic import write_corpus

    return write_corpus(
        tmp_path_factory.mktemp("plug") / "corpus", per_class=2, seconds=0.4, sample_rate=TINY_SR
    )


def _train(corpus: Path, folder: Path, plugin: Path, capsys, steps: int = 2, resume: bool = False, **changes):
    config = tiny_config(steps=steps, **changes)
    config["generator"] = {"name": "badgen"}
    toml = folder / "config.toml"
    toml.write_text(to_toml(config))
    argv = ["train", str(corpus), "--run", str(folder / "run"), "--plugin", str(plugin), "--no-progress"]
    argv += ["--resume"] if resume else ["--config", str(toml)]
    try:
        code = main(argv)
    except Exception as exc:  # an unhandled plugin exception: recorded so the checks below still run
        code = f"raised {type(exc).__name__}: {exc}"
    err = capsys.readouterr().err
    lines = [
        line
        for line in err.replace("\r", "\n").splitlines()
        if line.strip() and "%|" not in line and not line.startswith("audiogan: warning:")
    ]
    return code, err, lines


@pytest.mark.parametrize(
    "mode,needle",
    [
        ("import", "boom at import"),
        ("register", "boom in register_generators"),
        ("construct", "boom in __init__"),
        ("forward", "boom in forward"),
        ("nan", "non-finite"),
        ("shape", "shape"),
    ],
)
def test_broken_plugin_is_one_line_naming_it(corpus, tmp_path, capsys, mode, needle):
    plugin = plugin_file(tmp_path, mode)
    code, err, lines = _train(corpus, tmp_path, plugin, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("audiogan: error: "), err
    assert needle in lines[0], lines[0]
    # names the plugin: the file/module for load-time failures, the component for run-time ones
    assert plugin.stem in lines[0] or "badgen" in lines[0], lines[0]


def test_registry_errors_name_the_plugin(tmp_path):
    from audiogan.plugins import get_registry

    for mode in ("import", "register"):
        with pytest.raises(PluginError, match=f"bad_{mode}_0"):
            get_registry([str(plugin_file(tmp_path, mode))], strict=True)
    registry = get_registry([str(plugin_file(tmp_path, "construct"))], strict=True)
    from audiogan.config import FeatureConfig

    with pytest.raises(PluginError, match="badgen"):
        registry.build("generator", "badgen", {}, FeatureConfig(n_mels=8), 0)


def test_plugin_failing_mid_run_stops_cleanly_with_its_checkpoint(corpus, tmp_path, capsys):
    # forward behaves for the first calls (contract checks, 2 checkpoints), then raises
    plugin = plugin_file(tmp_path, "forward", fail_after=12)
    code, err, lines = _train(corpus, tmp_path, plugin, capsys, steps=40, checkpoint_every=2)
    run = tmp_path / "run"
    step = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")["step"]  # intact, loadable
    assert 0 < step < 40
    assert not [p for p in run.rglob(".*.pt.*")], "temporary file left behind"
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and "badgen" in lines[0] and "boom in forward" in lines[0], lines


def test_plugin_returning_nan_mid_run_stops_with_its_checkpoint(corpus, tmp_path, capsys):
    # non-finite frames after the contract check: the divergence guard restores, then gives up
    plugin = plugin_file(tmp_path, "nan", fail_after=12)
    code, err, lines = _train(
        corpus, tmp_path, plugin, capsys, steps=60, checkpoint_every=2, divergence_patience=2, max_restores=1
    )
    run = tmp_path / "run"
    step = load_checkpoint(run / "checkpoints" / "last.pt", kind="checkpoint")["step"]
    assert 0 < step < 60
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("audiogan: error: "), err


def test_generation_with_a_failing_plugin_names_it(tmp_path, capsys):
    """generate: a generator or vocoder raising in forward is a one-line PluginError naming it."""
    from audiogan.checkpoint import generator_file, save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.plugins import get_registry

    plugin = plugin_file(tmp_path, "forward")
    registry = get_registry([str(plugin)], strict=True)
    fc = FeatureConfig(
        sample_rate=TINY_SR, n_fft=256, hop_length=64, n_mels=16, mel_mean=[-5.0] * 16, mel_std=[2.0] * 16
    )
    model = registry.build("generator", "badgen", {}, fc, 0)
    run = tmp_path / "run"
    save_checkpoint(generator_file(registry, "badgen", model, fc, [], 0), run / "generator.pt")
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            str(run),
            "--out",
            str(out),
            "--plugin",
            str(plugin),
            "--seconds",
            "0.1",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.count("\n") == 1 and "generator 'badgen'" in err and "boom in forward" in err, err
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
