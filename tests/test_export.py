"""`audiogan export`: the TorchScript file runs without audiogan and matches the eager model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_generate import train_tiny_run

import audiogan
from audiogan.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")

RUNNER = r"""
import json, sys, torch
path, inputs, outputs = sys.argv[1:4]
files = {"audiogan.json": ""}
m = torch.jit.load(path, _extra_files=files)
meta = json.loads(files["audiogan.json"])
z, labels = torch.load(inputs, weights_only=True)
torch.manual_seed(0)
frames, *state = m.start(z, labels)
more, *state = m.step(z, labels, *state)
frames = torch.cat([frames, more], 1)
result = {"frames": frames, "log_mel": m.to_log_mel(frames)}
if "vocode" in meta["methods"]:
    result["audio"] = m.vocode(result["log_mel"])
assert not any(name.startswith("audiogan") for name in sys.modules), "audiogan was imported"
torch.save(result, outputs)
print(json.dumps(meta))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny trained run."""
    return train_tiny_run(tmp_path_factory.mktemp("export"))


def run_exported(path: Path, tmp: Path, batch: int = 3) -> tuple[dict, dict, tuple]:
    """Run the exported file in a fresh interpreter that never imports audiogan."""
    g = torch.Generator().manual_seed(1)
    files = {"audiogan.json": ""}
    torch.jit.load(str(path), _extra_files=files)
    z = torch.randn(batch, json.loads(files["audiogan.json"])["latent_dim"], generator=g)
    labels = torch.tensor([0, 2, 1][:batch])
    torch.save((z, labels), tmp / "inputs.pt")
    script = tmp / "runner.py"
    script.write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(path), str(tmp / "inputs.pt"), str(tmp / "out.pt")],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), torch.load(tmp / "out.pt", weights_only=True), (z, labels)


def eager(synth, z, labels, chunk):
    """Two chunks from the eager generator with the same RNG seed as the runner."""
    gen = synth.generator
    with torch.no_grad():
        torch.manual_seed(0)
        a, state = gen(z, labels, chunk, None)
        b, _ = gen(z, labels, chunk, state)
    frames = torch.cat([a, b], 1)
    return frames, synth.front.to_vocoder(frames)


def test_torchscript_round_trip(run, tmp_path, capsys):
    out = tmp_path / "model.ts"
    assert main(["export", str(run), "--out", str(out), "--chunk-frames", "12"]) == 0
    assert "wrote" in capsys.readouterr().out
    meta, got, (z, labels) = run_exported(out, tmp_path)
    assert meta["class_names"] == ["chirp", "drums", "pluck"] and meta["chunk_frames"] == 12
    assert meta["feature_config"]["sample_rate"] == 8000 and meta["vocoder"] is None
    synth = audiogan.load(run, device="cpu")
    frames, log_mel = eager(synth, z, labels, 12)
    assert got["frames"].shape == (3, 24, 16)
    torch.testing.assert_close(got["frames"], frames, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got["log_mel"], log_mel, rtol=1e-4, atol=1e-4)
    # no silent overwrite
    assert main(["export", str(run), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_torchscript_with_neural_vocoder(run, tmp_path):
    import shutil

    from audiogan.checkpoint import component_record, save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.plugins import get_registry

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    fc = audiogan.load(copy, device="cpu").feature_config
    torch.manual_seed(0)
    registry = get_registry()
    vocoder = registry.build("vocoder", "istft", {"dim": 8, "intermediate_dim": 16, "num_layers": 1}, fc, 0)
    payload = {
        "format": "audiogan-vocoder",
        "format_version": 1,
        "feature_config": fc.to_dict(),
        "vocoder": component_record(registry, "vocoder", "istft", vocoder),
    }
    save_checkpoint(payload, copy / "vocoder.pt")
    out = tmp_path / "with_vocoder.ts"
    from audiogan.generation.export import export

    meta = export(copy, out, chunk_frames=8)
    assert meta["vocoder"] == "istft" and "vocode" in meta["methods"]
    _, got, (z, labels) = run_exported(out, tmp_path, batch=2)
    synth = audiogan.load(copy, device="cpu")
    assert isinstance(FeatureConfig.from_dict(meta["feature_config"]), FeatureConfig)
    frames, log_mel = eager(synth, z, labels, 8)
    with torch.no_grad():
        audio = synth.vocoder(log_mel)
    assert got["audio"].shape == (2, 16 * 64)
    # The traced vocoder runs its Griffin-Lim projections through torch.istft/stft, the eager one
    # through the fast loop: float noise that grows with the projections and with the CPU's
    # kernels (3e-5 of the peak on an AMD EPYC host). Export's own self-check allows 1e-4 of it.
    peak = float(audio.abs().max())
    torch.testing.assert_close(got["audio"], audio, rtol=1e-3, atol=1e-4 * peak)
