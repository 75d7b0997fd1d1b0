"""`audiogan export --format onnx`: the graphs run in onnxruntime, in a process without torch or
audiogan, and give the frames (and audio, where the vocoder exports) that torch gives.

Tolerance: |onnxruntime - torch| <= 1e-4 of the output's peak (+1e-6), the float32 kernels of
the two runtimes differ in the last bits; measured here ~1e-7.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_generate import save_vocoder, write_plugin

import audiogan
from audiogan.cli import main
from audiogan.data.synthetic import write_corpus
from audiogan.generation.onnx_export import feed_randn, onnx_paths
from audiogan.training.loop import train

pytest.importorskip("onnx", reason="onnx is in the dev extras: pip install -e '.[dev]'")
pytest.importorskip("onnxruntime", reason="onnxruntime is in the dev extras: pip install -e '.[dev]'")

REPO = Path(__file__).resolve().parents[1]
PLAYER = REPO / "docs" / "onnx_player.py"
SR, HOP, N_MELS, CHUNK = 8000, 64, 16, 12
LABELS = [0, 2, 1]

# Runs the exported graphs for 3 chunks (state carried) with inputs from the parent; numpy and
# onnxruntime only, and proves it by its last assertion.
RUNNER = r"""
import json, sys
import numpy as np
import onnxruntime as ort

model, inputs, outputs = sys.argv[1:4]
start = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = json.loads(start.get_modelmeta().custom_metadata_map["audiogan"])
folder = model.rsplit("/", 1)[0]
step = ort.InferenceSession(folder + "/" + meta["files"]["step"], providers=["CPUExecutionProvider"])
feed = np.load(inputs)
frames, log_mels, state = [], [], []
for k in range(3):
    noise = {f"noise_{i}": feed[f"noise_{k}_{i}"] for i in range(len(meta["noise"]))}
    if k == 0:
        out = start.run(None, {"z": feed["z"], "labels": feed["labels"], **noise})
    else:
        states = {f"state_{i}": s for i, s in enumerate(state)}
        out = step.run(None, {"z": feed["z"], "labels": feed["labels"], **states, **noise})
    frames.append(out[0]); log_mels.append(out[1]); state = out[2:]
result = {"frames": np.concatenate(frames, 1), "log_mel": np.concatenate(log_mels, 2)}
if meta["files"]["vocoder"]:
    path = folder + "/" + meta["files"]["vocoder"]
    vocoder = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    result["audio"] = vocoder.run(None, {"log_mel": result["log_mel"]})[0]
banned = ("torch", "audiogan", "audiogan_plugins")
assert not [m for m in sys.modules if m.split(".")[0] in banned], "torch or audiogan was imported"
np.savez(outputs, **result)
print(json.dumps(meta))
"""


def tiny_run(root: Path, generator: str, plugins: tuple[str, ...] = (), steps: int = 6, **g_config) -> Path:
    """A tiny conditional run of ``generator`` on a 3-class synthetic corpus (a few seconds)."""
    g_config = g_config or {"hidden_size": 16, "num_layers": 2, "latent_dim": 8, "label_dim": 4}
    corpus = write_corpus(root / "corpus", per_class=3, seconds=0.4, sample_rate=SR)
    config = {
        "train": {
            "steps": steps,
            "batch_size": 4,
            "seq_frames": 16,
            "log_every": 3,
            "sample_every": 0,
            "device": "cpu",
            "eval_every": 0,
        },
        "feature": {"sample_rate": SR, "n_fft": 256, "hop_length": HOP, "n_mels": N_MELS},
        "generator": {"name": generator, **g_config},
        "discriminator": {"name": "gru", "hidden_size": 16, "num_layers": 1},
    }
    train(corpus, root / "run", config, plugins=plugins, progress=False)
    return root / "run"


@pytest.fixture(scope="module", params=["gru", "lstm"])
def run(request, tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp(f"onnx-{request.param}"), request.param)


def inputs(meta: dict, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feed = {
        "z": rng.standard_normal((len(LABELS), meta["latent_dim"])).astype(np.float32),
        "labels": np.array(LABELS, dtype=np.int64),
    }
    for k in range(3):
        for i, shape in enumerate(meta["noise"]):
            feed[f"noise_{k}_{i}"] = rng.standard_normal((len(LABELS), *shape)).astype(np.float32)
    return feed


def run_without_torch(model: Path, tmp: Path) -> tuple[dict, dict, dict]:
    """Export's graphs run in a fresh interpreter; returns (metadata, inputs, outputs)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["audiogan"])
    feed = inputs(meta)
    np.savez(tmp / "inputs.npz", **feed)
    script = tmp / "runner.py"
    script.write_text(RUNNER)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(model), str(tmp / "inputs.npz"), str(tmp / "out.npz")],
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == meta
    return meta, feed, dict(np.load(tmp / "out.npz"))


def torch_reference(synth, feed: dict, meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The same 3 chunks from the eager generator, fed the same noise (what `generate` runs)."""
    gen, state, parts = synth.generator, None, []
    z, labels = torch.from_numpy(feed["z"]), torch.from_numpy(feed["labels"])
    with torch.no_grad():
        for k in range(3):
            noise = [torch.from_numpy(feed[f"noise_{k}_{i}"]) for i in range(len(meta["noise"]))]
            with feed_randn(noise):
                frames, state = gen(z, labels, CHUNK, state)
            parts.append(frames)
    frames = torch.cat(parts, 1)
    return frames, synth.front.to_vocoder(frames)


def close(got: np.ndarray, want: torch.Tensor) -> None:
    want = want.numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max() + 1e-6


def test_generator_round_trip_without_torch(run, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    args = ["export", str(run), "--format", "onnx", "--out", str(out), "--chunk-frames", str(CHUNK)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "model.step.onnx" in printed and "checked with onnxruntime" in printed
    assert "left out" in printed  # Griffin-Lim: no ONNX form (one line saying why)
    meta, feed, got = run_without_torch(out, tmp_path)
    assert meta["class_names"] == ["chirp", "drums", "pluck"] and meta["chunk_frames"] == CHUNK
    assert meta["files"]["vocoder"] is None and "griffinlim" in meta["vocoder_left_out"]
    assert meta["state_tensors"] == (2 if meta["generator"] == "lstm" else 1)
    frames, log_mel = torch_reference(audiogan.load(run, device="cpu"), feed, meta)
    assert got["frames"].shape == (3, 3 * CHUNK, N_MELS)
    close(got["frames"], frames)
    close(got["log_mel"], log_mel)
    assert not np.allclose(got["frames"][0], got["frames"][1])  # labels and z matter


def test_vocoder_is_exported_when_onnx_can_express_it(tmp_path, capsys):
    run = tiny_run(tmp_path / "conv", "gru", steps=3)
    plugin = write_plugin(tmp_path)
    save_vocoder(run, plugin, run / "vocoder.pt")  # a deterministic conv vocoder (ONNX has ConvTranspose)
    out = tmp_path / "conv.onnx"
    args = ["export", str(run), "--format", "onnx", "--out", str(out), "--chunk-frames", str(CHUNK)]
    assert main([*args, "--plugin", str(plugin)]) == 0
    assert "conv.vocoder.onnx" in capsys.readouterr().out
    meta, feed, got = run_without_torch(out, tmp_path)
    assert meta["vocoder"] == "convtest" and meta["vocoder_left_out"] is None
    synth = audiogan.load(run, device="cpu", plugins=[str(plugin)])
    frames, log_mel = torch_reference(synth, feed, meta)
    close(got["frames"], frames)
    with torch.no_grad():
        close(got["audio"], synth.vocoder(log_mel))


def test_runtime_only_player_writes_a_wav(run, tmp_path):
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    wav = tmp_path / "pluck.wav"
    guard = tmp_path / "play.py"  # the player as a user runs it, plus a check that torch stayed out
    guard.write_text(
        "import runpy, sys\n"
        f"sys.argv = [{str(PLAYER)!r}, {str(out)!r}, '--label', 'pluck', '--seconds', '1.5',"
        f" '--out', {str(wav)!r}]\n"
        f"runpy.run_path({str(PLAYER)!r}, run_name='__main__')\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'audiogan')], 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-I", str(guard)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1.50 s of pluck" in done.stdout
    audio, rate = sf.read(wav)
    assert rate == SR and abs(len(audio) - 1.5 * SR) <= HOP
    assert np.isfinite(audio).all() and 0.5 < np.abs(audio).max() <= 1.0


def test_player_mel_filterbank_is_torchaudios():
    spec = importlib.util.spec_from_file_location("onnx_player", PLAYER)
    player = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(player)
    from audiogan.config import FeatureConfig
    from audiogan_plugins.griffinlim import mel_basis

    for fc in (
        FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16),
        FeatureConfig(sample_rate=16000, n_fft=1024, n_mels=80, f_min=40.0, f_max=7600.0),
    ):
        ours = player.mel_filterbank({k: v for k, v in fc.to_dict().items()})
        np.testing.assert_allclose(ours, mel_basis(fc).numpy(), atol=1e-5)


def test_missing_onnx_package_is_one_line(run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs the onnx package: pip install onnx" in err


POLAR_GENERATOR = '''
import dataclasses
import torch
import audiogan


class PolarGenerator(audiogan.Generator):
    """Test generator using torch.polar, which ONNX cannot express."""

    name = "polargen"

    @dataclasses.dataclass
    class Config:
        """Latent size."""

        latent_dim: int = 4

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        self.latent_dim = self.config.latent_dim
        self.proj = torch.nn.Linear(self.latent_dim, feature_config.n_mels)

    def forward(self, z, labels, n_frames, state=None):
        x = self.proj(z).unsqueeze(1).expand(-1, n_frames, -1)
        frames = torch.polar(torch.ones_like(x), x).real
        return frames, x[:, -1] if state is None else state


@audiogan.hookimpl
def register_generators():
    return [PolarGenerator]
'''


def test_generator_that_cannot_be_exported_names_itself_and_the_operator(tmp_path, capsys):
    plugin = tmp_path / "polar_plugin.py"
    plugin.write_text(POLAR_GENERATOR)
    run = tiny_run(tmp_path / "polar", "polargen", plugins=(str(plugin),), steps=2, latent_dim=4)
    out = tmp_path / "p.onnx"
    code = main(["export", str(run), "--format", "onnx", "--out", str(out), "--plugin", str(plugin)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert "generator 'polargen'" in err and "aten::polar" in err and "Traceback" not in err
    assert not any(path.exists() for path in onnx_paths(out).values())  # nothing half-written
