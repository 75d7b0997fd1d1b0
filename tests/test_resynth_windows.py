"""`resynth` vocodes long files in overlapping windows with the vocoder's declared context_frames,
so a deterministic vocoder with a wide receptive field gives exactly its one-shot waveform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

SR, HOP, N_MELS = 8000, 64, 16
FEATURE = {"sample_rate": SR, "n_fft": 256, "hop_length": HOP, "n_mels": N_MELS}
REACH = 20  # frames: far more than the 8 frames of context the STFT window alone asks for

# Deterministic weights (a private generator), so the test can rebuild the very same vocoder.
# Output frame t reads mel frames t - REACH - 1 ... t + REACH, and says so in context_frames.
WIDE_VOCODER = '''
import dataclasses
import torch
from torch import nn
import audiogan


class WideVocoder(audiogan.Vocoder):
    """Test vocoder: a wide convolution over time, then a two-frame transposed convolution."""

    name = "widetest"

    @dataclasses.dataclass
    class Config:
        """Frames the time convolution reaches either side."""

        reach: int = 1

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        hop, m, r = feature_config.hop_length, feature_config.n_mels, config.reach
        g = torch.Generator().manual_seed(0)
        self.smear = nn.Conv1d(m, m, 2 * r + 1, padding=r, bias=False)
        self.up = nn.ConvTranspose1d(m, 1, 2 * hop, stride=hop, bias=False)
        with torch.no_grad():
            self.smear.weight.copy_(torch.rand(self.smear.weight.shape, generator=g) / (m * (2 * r + 1)))
            self.up.weight.copy_(torch.randn(self.up.weight.shape, generator=g) * 0.02)

    @property
    def context_frames(self):
        return self.config.reach + 1

    def forward(self, mel):
        hop = self.feature_config.hop_length
        return self.up(self.smear(torch.exp(mel)))[:, 0, : mel.shape[-1] * hop]


@audiogan.hookimpl
def register_vocoders():
    return [WideVocoder]
'''


def test_resynth_windows_equal_one_shot_vocoding(tmp_path: Path, monkeypatch) -> None:
    import audiogan.data.audio as audio_io
    from audiogan.config import FeatureConfig
    from audiogan.data.synthetic import make_clip
    from audiogan.features import MelFrontEnd
    from audiogan.generation.resynth import resynthesize
    from audiogan.generation.sampling import window_context_frames
    from audiogan.plugins import get_registry

    plugin = tmp_path / "wide_vocoder_plugin.py"
    plugin.write_text(WIDE_VOCODER)
    rng = np.random.default_rng(0)
    # 9 s = 1126 frames: several windows both at the 256-frame window that max_frames=40 gives and
    # at the 1024-frame window resynth used to have.
    song = np.concatenate([make_clip(k, rng, SR, 1.0) for k in ("chirp", "pluck", "drums") * 3])
    wav = tmp_path / "long.wav"
    sf.write(wav, 0.5 * song / np.abs(song).max(), SR)

    written: list[np.ndarray] = []
    real_write = audio_io.write_audio

    def capture(path, audio, *args, **kwargs):
        written.append(np.array(audio, dtype=np.float32))  # the float output, before 16-bit rounding
        return real_write(path, audio, *args, **kwargs)

    monkeypatch.setattr(audio_io, "write_audio", capture)
    resynthesize(
        [wav],
        tmp_path / "out",
        vocoder="widetest",
        vocoder_config={"reach": REACH},
        feature=FEATURE,
        plugins=[str(plugin)],
        max_frames=40,
    )

    fc = FeatureConfig.from_dict(FEATURE)
    vocoder = get_registry((str(plugin),)).build("vocoder", "widetest", {"reach": REACH}, fc, 0).eval()
    assert window_context_frames(fc, vocoder) > REACH  # the declared field, not the STFT's 8 frames
    samples = audio_io.load_audio(wav, SR)
    with torch.no_grad():
        mel = MelFrontEnd(fc).log_mel(torch.from_numpy(samples)).transpose(1, 2)
        whole = vocoder(mel)[0, : samples.shape[0]].numpy()
    assert mel.shape[-1] > 1024
    assert 0.05 < np.abs(whole).max() < 1.0  # audible, and not rescaled by resynth's clip guard
    assert len(written) == 1 and written[0].shape == whole.shape
    np.testing.assert_allclose(written[0], whole, rtol=0, atol=1e-6 * np.abs(whole).max())
