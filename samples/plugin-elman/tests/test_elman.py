"""The plugin's own tests: audiogan's contract checks, then what is special about this plugin."""

from __future__ import annotations

import torch
from audiogan_elman import ElmanDiscriminator, ElmanGenerator

from audiogan.plugins import get_registry
from audiogan.testing import (
    check_discriminator,
    check_generator,
    check_pair,
    tiny_feature_config,  # noqa: F401  (pytest fixture)
)


def test_contracts():
    check_generator(ElmanGenerator)
    check_discriminator(ElmanDiscriminator)


def test_one_training_step():
    check_pair(ElmanGenerator, ElmanDiscriminator)


def test_noise_variant_still_honours_the_contract():
    check_generator(ElmanGenerator, config=ElmanGenerator.Config(noise_dim=4))


def test_installed_plugin_is_found_by_name(tiny_feature_config):
    registry = get_registry()
    info = registry.info("generator", "elman")
    assert info.cls is ElmanGenerator and info.distribution == "audiogan-elman"
    model = registry.build("generator", "elman", {"hidden_size": 8}, tiny_feature_config, 2)
    frames, _ = model(torch.randn(2, model.latent_dim), torch.tensor([0, 1]), 5)
    assert frames.shape == (2, 5, tiny_feature_config.n_mels)
