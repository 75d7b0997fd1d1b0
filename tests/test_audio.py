"""Decoding (formats, channels, rates), resampling, broken files and atomic writing."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiogan.data import audio
from audiogan.data.audio import AudioFileError, decode, load_audio, write_audio
from audiogan.errors import DataError


def sine(freq: float, rate: int, seconds: float = 0.25, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


@pytest.mark.parametrize(
    "fmt,subtype,suffix",
    [
        ("WAV", "PCM_16", ".wav"),
        ("WAV", "PCM_24", ".wav"),
        ("WAV", "FLOAT", ".wav"),
        ("WAVEX", "PCM_16", ".wav"),  # WAVE_FORMAT_EXTENSIBLE
        ("FLAC", "PCM_16", ".flac"),
        ("OGG", "VORBIS", ".ogg"),
        ("AIFF", "PCM_16", ".aiff"),
        ("MP3", "MPEG_LAYER_III", ".mp3"),
    ],
)
def test_decodes_formats(tmp_path, fmt, subtype, suffix):
    if not sf.check_format(fmt, subtype):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    x = sine(440.0, 16000)
    path = tmp_path / f"x{suffix}"
    sf.write(path, x, 16000, format=fmt, subtype=subtype)
    y, rate = decode(path)
    assert rate == 16000 and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) <= 1
    assert abs(peak_hz(y, rate) - 440.0) < 10
    if fmt not in ("OGG", "MP3"):  # lossless formats come back (almost) exactly
        assert np.max(np.abs(y[: len(x)] - x)) < 1e-3


def test_stereo_mixes_to_mono(tmp_path):
    left, right = sine(300.0, 8000), sine(300.0, 8000, amp=0.1)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="PCM_24")
    y = load_audio(path)
    assert y.shape == left.shape
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-4)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_resamples_to_target_rate(tmp_path, rate):
    path = tmp_path / "r.wav"
    sf.write(path, sine(1000.0, rate, seconds=0.5), rate)
    y = load_audio(path, sample_rate=16000)
    assert abs(len(y) - 8000) <= 1
    assert abs(peak_hz(y, 16000) - 1000.0) < 10
    assert 0.3 < np.max(np.abs(y)) < 0.6  # level preserved


def test_broken_files_have_reasons(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(440.0, 16000), 16000)
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio at all\n")
    (tmp_path / "trunc.wav").write_bytes(good.read_bytes()[:30])  # header cut short
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    bad = sine(440.0, 16000)
    bad[10] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16000, subtype="FLOAT")
    expected = {
        "zero.wav": audio.REASON_EMPTY,
        "text.wav": audio.REASON_NOT_AUDIO,
        "trunc.wav": audio.REASON_UNREADABLE,
        "empty.wav": audio.REASON_NO_FRAMES,
        "nan.wav": audio.REASON_NON_FINITE,
    }
    for name, reason in expected.items():
        with pytest.raises(AudioFileError) as info:
            decode(tmp_path / name)
        assert info.value.reason == reason, name
        assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")


def test_write_audio_pcm16_clips_and_is_atomic(tmp_path):
    x = np.array([0.0, 0.5, 2.0, -3.0, np.nan], dtype=np.float32)
    out = write_audio(tmp_path / "o.wav", x, 16000)
    assert out == tmp_path / "o.wav"
    info = sf.info(out)
    assert info.subtype == "PCM_16" and info.samplerate == 16000
    y, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0, -1.0, 0.0], atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["o.wav"]  # no temp file left


def test_write_audio_float_and_flac(tmp_path):
    x = sine(440.0, 8000)
    wav = write_audio(tmp_path / "f.wav", x, 8000, subtype="FLOAT")
    assert sf.info(wav).subtype == "FLOAT"
    np.testing.assert_array_equal(sf.read(wav, dtype="float32")[0], x)
    flac = write_audio(tmp_path / "f.flac", x, 8000, format="flac")
    assert sf.info(flac).format == "FLAC"


def test_write_audio_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="x.mp9.*unknown audio format"):
        write_audio(tmp_path / "x.mp9", np.zeros(4), 8000, format="mp9")
    with pytest.raises(DataError, match="y.flac"):
        write_audio(tmp_path / "y.flac", np.zeros(4), 8000, format="flac", subtype="FLOAT")


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_16_bit_files_read_as_integers_give_the_float_reads_samples_exactly(tmp_path, channels):
    rng = np.random.default_rng(channels)
    pcm = rng.integers(-32768, 32768, size=(20000, channels)).astype(np.int16)
    pcm[:3] = [-32768] * channels, [32767] * channels, [1] * channels  # the extremes and the smallest step
    path = tmp_path / "pcm16.wav"
    sf.write(path, pcm, 22050, subtype="PCM_16")
    with sf.SoundFile(path) as handle:
        got, checked = audio.read_mono(handle, 30000)
    with sf.SoundFile(path) as handle:
        expected = audio.to_mono(handle.read(dtype="float32", always_2d=True))
    assert checked and got.dtype == np.float32
    assert np.array_equal(got, expected)


def test_float_files_are_read_as_floats_and_left_to_be_checked(tmp_path):
    path = tmp_path / "float.wav"
    sf.write(path, np.array([[0.5, -0.25], [np.inf, 0.0]], dtype=np.float32), 8000, subtype="FLOAT")
    with sf.SoundFile(path) as handle:
        got, checked = audio.read_mono(handle, 10)
    assert not checked
    assert got[0] == np.float32(0.125) and audio.check_samples(got) == audio.REASON_NON_FINITE
