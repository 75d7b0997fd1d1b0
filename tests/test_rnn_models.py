"""The built-in LSTM/GRU generators and discriminators: shapes, bounds, carried state, labels."""

from __future__ import annotations

import pytest
import torch

from audiogan.config import FeatureConfig
from audiogan.errors import ConfigError
from audiogan_plugins import rnn

FC = FeatureConfig(n_mels=16)
GENERATORS = [rnn.LSTMGenerator, rnn.GRUGenerator]
DISCRIMINATORS = [rnn.LSTMDiscriminator, rnn.GRUDiscriminator]


def small_g(cls, classes=3, **kw):
    options = dict(hidden_size=16, num_layers=2, latent_dim=8, noise_dim=4, label_dim=4) | kw
    return cls(rnn.RNNGeneratorConfig(**options), FC, classes)


def small_d(cls, classes=3, **kw):
    return cls(rnn.RNNDiscriminatorConfig(hidden_size=16, num_layers=1, **kw), FC, classes)


def test_hooks_register_all_four_classes():
    assert {c.name for c in rnn.register_generators()} == {"lstm", "gru"}
    assert {c.name for c in rnn.register_discriminators()} == {"lstm", "gru"}
    for cls in rnn.register_generators() + rnn.register_discriminators():
        assert cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("cls", GENERATORS)
def test_generator_shapes_bounds_and_continuation(cls):
    torch.manual_seed(0)
    g = small_g(cls)
    z = torch.randn(4, g.latent_dim)
    labels = torch.tensor([0, 1, 2, 0])
    frames, state = g(z, labels, 10)
    assert frames.shape == (4, 10, 16) and frames.dtype == torch.float32
    assert frames.abs().max() <= g.config.out_scale
    more, state2 = g(z, labels, 5, state)
    assert more.shape == (4, 5, 16)
    # Continuation is seamless: without per-frame noise, 10 + 5 frames == 15 frames in one call.
    g2 = small_g(cls, noise_dim=0)
    a, s = g2(z, labels, 10)
    b, _ = g2(z, labels, 5, s)
    whole, _ = g2(z, labels, 15)
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", GENERATORS)
def test_generator_label_changes_output_and_unconditional_works(cls):
    torch.manual_seed(0)
    g = small_g(cls, noise_dim=0)
    z = torch.randn(2, g.latent_dim)
    a, _ = g(z, torch.tensor([0, 0]), 6)
    b, _ = g(z, torch.tensor([1, 1]), 6)
    assert not torch.allclose(a, b)
    with pytest.raises(ConfigError, match="needs labels"):
        g(z, None, 6)
    u = small_g(cls, classes=0)
    out, _ = u(torch.randn(2, u.latent_dim), None, 6)
    assert out.shape == (2, 6, 16)


@pytest.mark.parametrize("cls", DISCRIMINATORS)
@pytest.mark.parametrize("scales", [1, 2])
def test_discriminator_per_frame_logits_and_features(cls, scales):
    torch.manual_seed(0)
    d = small_d(cls, scales=scales)
    x = torch.randn(3, 12, 16, requires_grad=True)
    logits, features = d(x, torch.tensor([0, 1, 2]))
    assert logits.shape == (3, 12 + (6 if scales == 2 else 0))
    assert all(f.shape[0] == 3 for f in features) and len(features) == 2 * scales
    logits.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # the projection term makes the label matter
    other, _ = d(x, torch.tensor([1, 2, 0]))
    assert not torch.allclose(logits, other)


def test_configs_reject_bad_values():
    with pytest.raises(ConfigError, match="generator.hidden_size"):
        rnn.RNNGeneratorConfig(hidden_size=0)
    with pytest.raises(ConfigError, match="discriminator.scales"):
        rnn.RNNDiscriminatorConfig(scales=0)
