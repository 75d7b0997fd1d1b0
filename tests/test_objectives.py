"""GAN losses and penalties: values on known inputs, gradients, and name checking."""

from __future__ import annotations

import pytest
import torch

from audiogan.errors import ConfigError
from audiogan.training import objectives as obj


def test_sequence_scores_masks_padding_and_passes_vectors():
    logits = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    torch.testing.assert_close(obj.sequence_scores(logits, mask), torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(obj.sequence_scores(logits), logits.mean(1))
    # extra multi-scale logits beyond the mask's length are averaged unmasked
    multi = torch.tensor([[1.0, 3.0, 100.0, 5.0]])
    torch.testing.assert_close(obj.sequence_scores(multi, mask[:1]), torch.tensor([3.0]))
    v = torch.tensor([0.5, -0.5])
    assert obj.sequence_scores(v) is not None and torch.equal(obj.sequence_scores(v), v)


@pytest.mark.parametrize("name", obj.LOSSES)
def test_losses_prefer_real_high_fake_low(name):
    good_real, good_fake = torch.full((4,), 2.0), torch.full((4,), -2.0)
    bad_real, bad_fake = torch.full((4,), -2.0), torch.full((4,), 2.0)
    if name != "least-squares":  # LSGAN targets are 1/0, not "higher is better" without bound
        assert obj.discriminator_loss(name, good_real, good_fake) < obj.discriminator_loss(
            name, bad_real, bad_fake
        )
    assert obj.generator_loss(name, bad_fake) < obj.generator_loss(name, good_fake)


def test_known_values():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -2.0])
    assert obj.discriminator_loss("hinge", real, fake).item() == pytest.approx(1.0)
    assert obj.discriminator_loss("least-squares", torch.ones(2), torch.zeros(2)).item() == 0.0
    assert obj.generator_loss("non-saturating", torch.zeros(2)).item() == pytest.approx(0.6931, abs=1e-4)
    assert obj.discriminator_loss("wgan-gp", real, fake).item() == pytest.approx(-2.0)


def test_unknown_loss_names_the_key():
    with pytest.raises(ConfigError, match="train.loss='hing'"):
        obj.check_loss("hing")
    with pytest.raises(ConfigError, match="train.loss"):
        obj.generator_loss("nope", torch.zeros(2))


def test_feature_matching_zero_for_equal_and_differentiable():
    a = [torch.randn(4, 5, 3), torch.randn(4, 5, 6)]
    assert obj.feature_matching_loss(a, [t.clone() for t in a]).item() == 0.0
    fake = [(t + 1.0).requires_grad_(True) for t in a]
    loss = obj.feature_matching_loss(a, fake)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert fake[0].grad is not None


def test_r1_and_gradient_penalty_match_analytic_values():
    # D(x) = sum(w * x) has gradient w everywhere: R1 = |w|^2, GP = (|w| - 1)^2.
    w = torch.tensor([3.0, 4.0])
    score = lambda x: (x * w).sum(-1)  # noqa: E731
    x = torch.randn(5, 2)
    assert obj.r1_penalty(score, x).item() == pytest.approx(25.0)
    assert obj.gradient_penalty(score, x, torch.randn(5, 2)).item() == pytest.approx(16.0)


def test_r1_through_a_recurrent_discriminator_backpropagates_to_weights():
    from audiogan.config import FeatureConfig
    from audiogan_plugins.rnn import LSTMDiscriminator, RNNDiscriminatorConfig

    d = LSTMDiscriminator(RNNDiscriminatorConfig(hidden_size=8, num_layers=1), FeatureConfig(n_mels=6), 0)
    penalty = obj.r1_penalty(lambda x: obj.sequence_scores(d(x, None)[0]), torch.randn(3, 7, 6))
    penalty.backward()
    assert d.input_proj.parametrizations.weight.original.grad is not None
