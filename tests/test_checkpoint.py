"""Checkpoint files: atomic save, safe load, clear errors for truncated or tampered files."""

from __future__ import annotations

import pickle

import pytest
import torch

from audiogan.checkpoint import load_checkpoint, save_checkpoint
from audiogan.errors import CheckpointError


def payload():
    return {"format": "audiogan-checkpoint", "format_version": 1, "step": 7,
            "weights": {"w": torch.arange(6.0).view(2, 3)}, "names": ["a", "b"], "lr": 1e-4, "none": None}


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
