"""Runtime contract checks (audiogan.contracts) and the plugin-author kit (audiogan.testing).

Each deliberately broken component below is a real nn.Module with one specific defect; the
checks must catch exactly that defect with a message naming the component.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import audiogan
from audiogan.contracts import check_discriminator_output, check_generator_output, check_vocoder_output
from audiogan.errors import PluginError
from audiogan.plugins import get_registry
from audiogan.testing import (  # noqa: F401  (fixtures)
    audiogan_registry,
    check_discriminator,
    check_generator,
    check_pair,
    check_vocoder,
    tiny_feature_config,
    tiny_features,
    tiny_log_mel,
    tiny_mel,
)


class GoodGenerator(audiogan.Generator):
    """A small GRU generator that honours the contract (deterministic given z)."""

    name = "good"

    @dataclasses.dataclass
    class Config:
        """Hyperparameters."""

        hidden: int = 8  # recurrent width
        use_state: bool = True  # the defect switch for BadStateGenerator
        z_scale: float = 1.0  # 0 makes the output ignore z

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        self.latent_dim = 4
        self.embed = nn.Embedding(num_classes, 4) if num_classes else None
        self.rnn = nn.GRU(4, self.config.hidden, batch_first=True)
        self.out = nn.Linear(self.config.hidden, feature_config.n_mels)

    def forward(self, z, labels, n_frames, state=None):
        x = z * self.config.z_scale
        if self.embed is not None:
            x = x + self.embed(labels)
        h, new_state = self.rnn(
            x.unsqueeze(1).expand(-1, n_frames, -1), state if self.config.use_state else None
        )
        return torch.tanh(self.out(h)), new_state


class GoodDiscriminator(audiogan.Discriminator):
    """A linear per-frame discriminator."""

    name = "good"

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        self.lin = nn.Linear(feature_config.n_mels, 1)
        self.embed = nn.Embedding(num_classes, feature_config.n_mels) if num_classes else None

    def forward(self, frames, labels):
        logits = self.lin(frames).squeeze(-1)
        if self.embed is not None:
            logits = logits + (frames * self.embed(labels).unsqueeze(1)).sum(-1)
        return logits, [logits]


FC = tiny_features()


def _gen(**config):
    return GoodGenerator(GoodGenerator.Config(**config), FC, 0)


# --------------------------------------------------------------------------- audiogan.contracts


def test_generator_output_checks_name_the_component():
    g = _gen()
    check_generator_output(g, torch.zeros(2, 5, 16), 2, 5)
    bad_cases = [
        (torch.zeros(2, 5, 15), r"frames has shape \(2, 5, 15\), expected \(2, 5, 16\)"),
        (torch.zeros(2, 16, 5), r"expected \(2, 5, 16\)"),
        (torch.zeros(2, 5, 16, dtype=torch.long), "frames has dtype torch.int64"),
        (torch.full((2, 5, 16), float("nan")), "160 non-finite values"),
        ([[0.0]], "frames is a list, expected a torch.Tensor"),
    ]
    for frames, message in bad_cases:
        with pytest.raises(
            PluginError,
            match=r"generator 'good' \(plugin 'test_contracts'\) broke its contract: .*" + message,
        ):
            check_generator_output(g, frames, 2, 5)


def test_discriminator_output_checks():
    d = GoodDiscriminator(None, FC, 0)
    check_discriminator_output(d, torch.zeros(3), [torch.zeros(3, 4, 2)], 3)
    check_discriminator_output(d, torch.zeros(3, 7), (), 3)
    bad_cases = [
        (torch.zeros(3, 7, 1), [], r"logits have shape \(3, 7, 1\)"),
        (torch.zeros(2), [], r"logits has shape \(2,\), expected \(3\)"),
        (torch.zeros(3), torch.zeros(3), "features is a Tensor, expected a list"),
        (torch.zeros(3), [torch.zeros(2, 4)], r"features\[0\] has shape \(2, 4\)"),
        (torch.zeros(3), [torch.tensor(1.0)], r"features\[0\] is not a tensor with a batch dimension"),
        (torch.tensor([0.0, float("inf"), 0.0]), [], "logits has 1 non-finite"),
    ]
    for logits, features, message in bad_cases:
        with pytest.raises(PluginError, match=r"discriminator 'good' .*" + message):
            check_discriminator_output(d, logits, features, 3)


def test_vocoder_output_checks(tiny_feature_config):
    v = get_registry().build("vocoder", "griffinlim", {"n_iter": 1}, tiny_feature_config)
    hop, n_fft = tiny_feature_config.hop_length, tiny_feature_config.n_fft
    check_vocoder_output(v, torch.zeros(2, 9 * hop), 2, 10)  # centred framing
    check_vocoder_output(v, torch.zeros(2, 10 * hop), 2, 10)  # upsampling vocoders
    with pytest.raises(
        PluginError, match=r"vocoder 'griffinlim' \(plugin 'griffinlim'\) .*640 samples for 20 frames"
    ):
        check_vocoder_output(v, torch.zeros(2, 10 * hop), 2, 20)
    with pytest.raises(PluginError, match="expected about"):
        check_vocoder_output(v, torch.zeros(2, 10 * hop + n_fft + 1), 2, 10)
    with pytest.raises(PluginError, match=r"waveform has shape \(2, 1, 640\)"):
        check_vocoder_output(v, torch.zeros(2, 1, 10 * hop), 2, 10)


# --------------------------------------------------------------------------- audiogan.testing


def test_kit_passes_a_good_pair_and_returns_trained_models():
    g, d = check_pair(GoodGenerator, GoodDiscriminator)
    assert isinstance(g, GoodGenerator) and isinstance(d, GoodDiscriminator)


def test_kit_catches_a_state_that_does_nothing():
    with pytest.raises(AssertionError, match="state passed to the second call has no effect"):
        check_generator(GoodGenerator, config=GoodGenerator.Config(use_state=False))


def test_kit_catches_output_that_ignores_z():
    with pytest.raises(AssertionError, match="frames do not depend on z"):
        check_generator(GoodGenerator, config=GoodGenerator.Config(z_scale=0.0), num_classes=0)


class SeamGenerator(GoodGenerator):
    """Deterministic, but restarts a frame counter on every call: chunks do not join."""

    name = "seam"

    def forward(self, z, labels, n_frames, state=None):
        frames, new_state = super().forward(z, labels, n_frames, state)
        ramp = torch.linspace(0, 0.5, n_frames).view(1, -1, 1)  # depends on the call, not the sequence
        return frames + ramp, new_state


def test_kit_catches_a_seam_between_chunks():
    with pytest.raises(AssertionError, match="two chunks differ from one long call"):
        check_generator(SeamGenerator)


class ConstantDiscriminator(GoodDiscriminator):
    """Ignores its input."""

    name = "constant"

    def forward(self, frames, labels):
        logits = self.lin.bias.expand(frames.shape[0]) + 0 * frames.sum(dim=(1, 2))
        return logits, [logits]


def test_kit_catches_a_discriminator_blind_to_its_input():
    with pytest.raises(AssertionError, match="logits do not depend on the frames"):
        check_discriminator(ConstantDiscriminator)


class WrongShapeGenerator(GoodGenerator):
    """Returns one frame too many."""

    name = "wrong-shape"

    def forward(self, z, labels, n_frames, state=None):
        return super().forward(z, labels, n_frames + 1, state)


def test_kit_reports_contract_breaks_as_plugin_errors():
    with pytest.raises(
        PluginError, match=r"generator 'wrong-shape' .*frames has shape \(3, 8, 16\), expected \(3, 7, 16\)"
    ):
        check_generator(WrongShapeGenerator)


class SilentVocoder(audiogan.Vocoder):
    """Always silent."""

    name = "silent"

    def forward(self, mel):
        return torch.zeros(mel.shape[0], (mel.shape[-1] - 1) * self.feature_config.hop_length)


def test_kit_catches_a_silent_vocoder_and_accepts_griffinlim(tiny_log_mel):
    with pytest.raises(AssertionError, match="silent output"):
        check_vocoder(SilentVocoder)
    assert tiny_log_mel.shape == (2, 16, 12) and tiny_log_mel.max() > -3  # real tones, well above the floor
    torch.testing.assert_close(tiny_mel(), tiny_log_mel)


def test_kit_rejects_classes_that_are_not_components():
    with pytest.raises(AssertionError, match="not a subclass of audiogan.Generator"):
        check_generator(GoodDiscriminator)


# RAVE's idea: every registered component builds with its defaults and honours its contract.


@pytest.mark.parametrize("kind", ["generator", "discriminator", "vocoder"])
def test_every_registered_component_passes_the_kit(audiogan_registry, kind):
    check = {"generator": check_generator, "discriminator": check_discriminator, "vocoder": check_vocoder}[
        kind
    ]
    names = audiogan_registry.names(kind)
    assert names
    for name in names:
        check(audiogan_registry.get(kind, name))


def test_blame_names_the_plugin_whose_code_raised_and_nothing_else():
    from audiogan.contracts import blame
    from audiogan.plugins import get_registry
    from audiogan.testing import tiny_features

    registry = get_registry()
    generator = registry.build("generator", "gru", {"hidden_size": 8, "num_layers": 1}, tiny_features(), 0)
    try:
        generator(torch.zeros(2, 3), None, 4)  # wrong latent size: raised inside the plugin's forward
    except RuntimeError as exc:
        error = blame(exc, [generator])
    assert error is not None and "generator 'gru'" in str(error) and "\n" not in str(error)
    try:
        torch.zeros(2) @ torch.zeros(3)  # engine-side failure: no plugin frame on the traceback
    except RuntimeError as exc:
        assert blame(exc, [generator]) is None
