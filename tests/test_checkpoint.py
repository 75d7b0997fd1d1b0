"""Checkpoint files: atomic save, safe load, clear errors for truncated or tampered files."""

from __future__ import annotations

import pickle

import pytest
import torch

from audiogan.checkpoint import load_checkpoint, save_checkpoint
from audiogan.errors import CheckpointError


def payload():
    return {
        "format": "audiogan-checkpoint",
        "format_version": 1,
        "step": 7,
        "weights": {"w": torch.arange(6.0).view(2, 3)},
        "names": ["a", "b"],
        "lr": 1e-4,
        "none": None,
    }


def test_round_trip_and_kind_check(tmp_path):
    path = save_checkpoint(payload(), tmp_path / "sub" / "c.pt")
    got = load_checkpoint(path, kind="checkpoint")
    assert got["step"] == 7 and torch.equal(got["weights"]["w"], torch.arange(6.0).view(2, 3))
    with pytest.raises(CheckpointError, match="expected an audiogan-generator file"):
        load_checkpoint(path, kind="generator")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["c.pt"]  # no temp files left


def test_save_refuses_non_plain_objects(tmp_path):
    with pytest.raises(TypeError, match="only tensors and plain containers"):
        save_checkpoint({"format": "audiogan-checkpoint", "x": object()}, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    path = save_checkpoint(payload(), tmp_path / "c.pt")
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.pt"):
            load_checkpoint(bad)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not an audiogan checkpoint"):
        load_checkpoint(plain)
    newer = tmp_path / "newer.pt"
    torch.save(payload() | {"format_version": 99}, newer)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(newer)


class _Evil:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle"])
def test_tampered_file_is_refused_without_running_code(tmp_path, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    evil = payload() | {"extra": _Evil(marker)}
    if container == "torch-zip":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_generator_file_round_trip_and_mismatches(tmp_path):
    from audiogan.checkpoint import generator_file, load_generator
    from audiogan.config import FeatureConfig
    from audiogan.plugins import get_registry

    registry = get_registry()
    fc = FeatureConfig(n_mels=12, mel_mean=[0.0] * 12, mel_std=[1.0] * 12)
    torch.manual_seed(0)
    g = registry.build("generator", "gru", {"hidden_size": 8, "num_layers": 1}, fc, 2)
    payload = generator_file(registry, "gru", g, fc, ["a", "b"], step=5)
    save_checkpoint(payload, tmp_path / "run" / "generator.pt")
    loaded = load_generator(tmp_path / "run", registry=registry)
    assert loaded.class_names == ["a", "b"] and loaded.meta["step"] == 5 and loaded.meta["name"] == "gru"
    assert loaded.feature_config == fc and not loaded.model.training
    for key, value in g.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "elsewhere", registry=registry)
    bad = dict(payload, generator=dict(payload["generator"], config={"hidden_size": 16, "num_layers": 1}))
    save_checkpoint(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_generator(tmp_path / "bad.pt", registry=registry)
    unknown = dict(payload, generator=dict(payload["generator"], name="transformer"))
    save_checkpoint(unknown, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="transformer"):
        load_generator(tmp_path / "unknown.pt", registry=registry)
    save_checkpoint({"format": "audiogan-checkpoint", "format_version": 1}, tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="expected an audiogan-generator"):
        load_generator(tmp_path / "ckpt.pt", registry=registry)
