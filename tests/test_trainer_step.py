"""Trainer.step internals on tiny models: the EMA update reads nothing back from the device, and
feature matching compares fakes with real features from the same (just updated) discriminator."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from audiogan.config import FeatureConfig
from audiogan.data.dataset import Batch
from audiogan.plugins import get_registry
from audiogan.training import objectives as obj
from audiogan.training.config import TrainConfig
from audiogan.training.trainer import Trainer

N_MELS, CLASSES, SIZE, FRAMES = 16, 3, 4, 8
GENERATOR = {"hidden_size": 16, "num_layers": 1, "latent_dim": 8, "noise_dim": 4, "label_dim": 4}
DISCRIMINATOR = {"hidden_size": 16, "num_layers": 1}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_trainer(**train) -> Trainer:
    torch.manual_seed(0)
    registry, fc = get_registry(), FeatureConfig(n_mels=N_MELS)
    g = registry.build("generator", "lstm", GENERATOR, fc, CLASSES)
    d = registry.build("discriminator", "lstm", DISCRIMINATOR, fc, CLASSES)
    tc = TrainConfig(batch_size=SIZE, seq_frames=FRAMES, **train)
    return Trainer(g, d, tc, torch.device("cpu"))


def make_batch() -> Batch:
    frames = torch.randn(SIZE, FRAMES, N_MELS)
    labels = torch.arange(SIZE) % CLASSES
    return Batch(frames, labels, torch.ones(SIZE, FRAMES, dtype=torch.bool))


class _ScalarReadError(AssertionError):
    pass


class _NoScalarReads(TorchDispatchMode):
    """Fails on any device -> host read of a tensor value.

    ``.item()``, ``bool()``, ``float()`` and a 0-d tensor given where an op wants a Python Scalar
    all end in ``aten._local_scalar_dense``; the last happens in C++ argument parsing, which a
    patched ``torch.Tensor.item`` never sees, so the dispatcher is where to look.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            raise _ScalarReadError(f"host read of a tensor value via {func}")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_scalar_reads():
    """Inside, reading a tensor's value on the host raises."""

    def refuse(name):
        def method(self, *args, **kwargs):
            raise _ScalarReadError(f"Tensor.{name} called")

        return method

    with pytest.MonkeyPatch.context() as patch, _NoScalarReads():
        for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
            patch.setattr(torch.Tensor, name, refuse(name))
        yield


def test_the_guard_catches_a_tensor_passed_as_a_scalar():
    # What _update_ema did: a 0-d weight where _foreach_lerp_ wants a Scalar (a sync on CUDA).
    a, b = [torch.zeros(3)], [torch.ones(3)]
    with pytest.raises(_ScalarReadError), no_scalar_reads():
        torch._foreach_lerp_(a, b, torch.tensor(0.5))
    with pytest.raises(_ScalarReadError), no_scalar_reads():
        bool(torch.tensor(True))


def _old_ema(trainer: Trainer, bad: torch.Tensor) -> list[torch.Tensor]:
    """The EMA as the original formula gives it, the weight read on the host."""
    t = trainer.step_count
    decay = min(trainer.tc.ema_decay, (1.0 + t) / (10.0 + t))
    weight = ((1.0 - bad.float()) * (1.0 - decay)).item()
    expected = [p.detach().clone() for p in trainer.ema_params]
    torch._foreach_lerp_(expected, [p.detach() for p in trainer.g_params], weight)
    return expected


def test_ema_update_is_sync_free_and_computes_the_same_numbers():
    trainer = make_trainer()
    # step 0: warm-up weight 0.9 (lerp's large-weight branch); step 5000: 1 - ema_decay (small
    # branch); step 7 is skipped, so the average must not move although G did.
    for step, skipped in ((0, False), (7, True), (5000, False)):
        trainer.step_count = step
        with torch.no_grad():
            for p in trainer.g_params:
                p.add_(torch.randn_like(p))
        bad = torch.tensor(skipped)
        before = [p.clone() for p in trainer.ema_params]
        expected = _old_ema(trainer, bad)
        with no_scalar_reads():
            trainer._update_ema(bad)
        for got, want, old in zip(trainer.ema_params, expected, before):
            assert torch.equal(got, want)
            assert torch.equal(got, old) == skipped


def _feature_matching(d_real: torch.nn.Module, d_fake: torch.nn.Module, batch: Batch, fake) -> float:
    # Copies, so that both calls start from the snapshot's spectral-norm vectors; real first, as
    # in the step (each training-mode forward advances the power iteration).
    d_real = copy.deepcopy(d_real)
    d_fake = d_real if d_fake is None else copy.deepcopy(d_fake)
    with torch.no_grad():
        _, real_features = d_real(batch.frames, batch.labels)
        _, fake_features = d_fake(fake, batch.labels)
    return obj.feature_matching_loss(real_features, fake_features).item()


def test_feature_matching_targets_come_from_the_updated_discriminator():
    # A huge D learning rate: one update changes D's features a lot, so stale targets show.
    trainer = make_trainer(lr_d=0.5, feature_matching=1.0)
    batch = make_batch()
    before = copy.deepcopy(trainer.discriminator)
    seen: dict[str, object] = {}
    apply_d = trainer.opt_d.step

    def apply_d_and_snapshot(*args, **kwargs):
        out = apply_d(*args, **kwargs)
        seen["d"] = copy.deepcopy(trainer.discriminator)  # D as the G step finds it
        return out

    trainer.opt_d.step = apply_d_and_snapshot  # type: ignore[method-assign]

    def keep_fake(module, inputs, output) -> None:  # returns None: the output is left as it is
        seen["fake"] = output[0].detach().clone()

    hook = trainer.generator.register_forward_hook(keep_fake)
    trainer.step(batch)
    hook.remove()
    metrics = trainer.pop_metrics()
    assert metrics["skipped"] == 0

    updated = _feature_matching(seen["d"], None, batch, seen["fake"])
    stale = _feature_matching(before, seen["d"], batch, seen["fake"])  # real features from D before
    assert metrics["loss_fm"] == pytest.approx(updated, rel=1e-4, abs=1e-6)
    # The check only means something when stale targets would give a clearly different loss.
    assert abs(stale - updated) > 0.1 * abs(updated)
