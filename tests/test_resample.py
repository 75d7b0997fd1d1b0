"""BandedResampler: torchaudio's windowed-sinc filter as banded matrix products, equal to it."""

from __future__ import annotations

import pytest
import torch
import torchaudio

from audiogan.data import resample
from audiogan.data.resample import BandedResampler

# Rate pairs that take each path: one stride per row (44.1 -> 16 kHz), merged strides (48 -> 16,
# 8 -> 16, 44.1 -> 22.05 kHz), upsampling and a pair with many phases.
PAIRS = [
    (44100, 16000),
    (48000, 16000),
    (22050, 16000),
    (8000, 16000),
    (16000, 8000),
    (44100, 22050),
    (11025, 16000),
    (96000, 24000),
    (44100, 48000),
]


@pytest.mark.parametrize("orig, new", PAIRS)
def test_equals_torchaudio_for_every_length(orig, new):
    ours = BandedResampler(orig, new)
    theirs = torchaudio.transforms.Resample(orig, new)
    generator = torch.Generator().manual_seed(orig + new)
    for length in (1, 2, 7, orig // 100 - 1, orig // 100, orig // 100 + 1, 3 * orig // 7 + 5):
        wave = torch.randn(3, length, generator=generator)
        expected = theirs(wave)
        got = ours(wave)
        assert got.shape == expected.shape, (orig, new, length)
        assert torch.allclose(got, expected, atol=1e-5, rtol=0), (orig, new, length)


def test_keeps_leading_dimensions_and_the_filters_width():
    ours = BandedResampler(44100, 16000)
    wave = torch.randn(2, 3, 4410)
    assert ours(wave).shape == (2, 3, 1600)
    assert torch.allclose(ours(wave)[1, 2], ours(wave[1, 2]), atol=1e-6)
    assert ours.width == torchaudio.transforms.Resample(44100, 16000).width


def test_unmerged_rows_when_the_merged_kernel_would_be_too_big(monkeypatch):
    monkeypatch.setattr(resample, "_MAX_MERGED_TAPS", 1)
    ours = BandedResampler(48000, 16000)
    assert ours.stride == 3  # 3 input samples per row, the filter spanning 14 rows
    wave = torch.randn(1, 48000 // 7)
    expected = torchaudio.transforms.Resample(48000, 16000)(wave)
    assert torch.allclose(ours(wave), expected, atol=1e-5, rtol=0)
