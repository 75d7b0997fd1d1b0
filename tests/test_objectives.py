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


def test_mode_seeking_pairs_only_clips_of_one_class_and_punishes_collapse():
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    varied = torch.randn(6, 5, 3)
    # Collapsed within each class, far apart across classes: pairs across classes must not count.
    collapsed = torch.stack([torch.full((5, 3), 10.0 * c) for c in labels.tolist()])
    collapsed = collapsed + 1e-3 * torch.randn_like(collapsed)
    assert obj.mode_seeking_loss(collapsed, z, labels) > 100 * obj.mode_seeking_loss(varied, z, labels)
    # Unlabelled: every pair counts, so the same collapsed set looks varied.
    assert obj.mode_seeking_loss(collapsed, z, None) < obj.mode_seeking_loss(varied, z, None)
    # Known value: one pair, |dG| = 2 per element, |dz| = 1 per element -> 1 / (2 + eps).
    pair = torch.stack([torch.zeros(2, 2), torch.full((2, 2), 2.0)])
    zz = torch.stack([torch.zeros(3), torch.ones(3)])
    assert obj.mode_seeking_loss(pair, zz, torch.tensor([1, 1])).item() == pytest.approx(0.5, rel=1e-4)
    # No pair of one class in the batch: no term (and no inf).
    assert obj.mode_seeking_loss(varied[:3], z[:3], torch.tensor([0, 1, 2])).item() == 0.0
    # It pushes same-class clips apart.
    fake = collapsed.clone().requires_grad_(True)
    obj.mode_seeking_loss(fake, z, labels).backward()
    step = fake - 0.01 * fake.grad
    assert (step[0] - step[1]).abs().mean() > (fake[0] - fake[1]).abs().mean()


def test_feature_spread_sees_collapse_that_feature_matching_misses():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    centres = torch.tensor([0.0, 0.0, 0.0, 3.0, 3.0, 3.0])[:, None, None]
    real = [centres + torch.randn(6, 4, 8)]  # each clip (B, T, C) varies around its class centre
    clip_means = real[0].mean(1, keepdim=True)
    class_means = torch.stack([clip_means[labels == c].mean(0) for c in labels.tolist()])
    collapsed = [class_means.expand(-1, 4, -1).clone()]  # every clip is its class's mean
    # Feature matching compares batch means: the class means reproduce them exactly.
    assert obj.feature_matching_loss(real, collapsed).item() < 1e-5
    spread = obj.feature_spread_loss(real, collapsed, labels, num_classes=2)
    assert spread.item() > 0.3
    assert obj.feature_spread_loss(real, [real[0].clone()], labels, num_classes=2).item() < 1e-5
    # Nearly collapsed (as a generator with per-frame noise is): the gradient spreads each class out.
    fake = (collapsed[0] + 1e-3 * torch.randn_like(collapsed[0])).requires_grad_(True)
    before = obj.feature_spread_loss(real, [fake], labels, num_classes=2)
    before.backward()
    after = obj.feature_spread_loss(real, [fake.detach() - 1e-2 * fake.grad], labels, num_classes=2)
    assert after < before
    with pytest.raises(ConfigError, match="feature_spread"):
        obj.feature_spread_loss(real, [], labels, num_classes=2)
