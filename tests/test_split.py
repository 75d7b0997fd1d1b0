"""Cutting takes into sound events: detection, the dataset of events, `prepare --split`, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.cli import main
from audiogan.config import FeatureConfig
from audiogan.data.dataset import load_dataset
from audiogan.data.extract import extract
from audiogan.data.split import SplitSettings, choose_method, find_events, refine_onsets
from audiogan.errors import ConfigError, DataError

FC = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32)


def hits_take(path: Path, onsets: list[float], rate: int = 8000, quiet: tuple[int, ...] = ()) -> Path:
    """Decaying noise bursts at ``onsets`` (s); hits whose index is in ``quiet`` are 24 dB down."""
    rng = np.random.default_rng(0)
    total = int((max(onsets) + 0.8) * rate)
    take = 1e-4 * rng.standard_normal(total)
    t = np.arange(int(0.3 * rate)) / rate
    for i, at in enumerate(onsets):
        level = 0.06 if i in quiet else 0.8
        hit = level * np.exp(-t / 0.04) * rng.standard_normal(t.size)
        start = int(at * rate)
        take[start : start + hit.size] += hit[: total - start]
    sf.write(path, np.clip(take, -1, 1).astype(np.float32), rate, subtype="PCM_16")
    return path


ONSETS = [0.3 + 0.45 * k for k in range(12)]


@pytest.mark.parametrize("method", ["onset", "silence"])
def test_every_planted_hit_is_one_event(tmp_path, method):
    frames, _, _ = extract(hits_take(tmp_path / "take.wav", ONSETS, quiet=(3, 7)), FC)
    settings = SplitSettings(method=method)
    events = find_events(frames, FC, settings)
    frame = FC.hop_length / FC.sample_rate
    found = [start * frame + settings.pad_seconds for start, _ in events]
    assert len(events) == len(ONSETS)
    assert np.abs(np.array(found) - np.array(ONSETS)).max() < 0.05
    assert all(end - start >= 0.05 / frame for start, end in events)


def test_onsets_separate_hits_that_silence_merges(tmp_path):
    close = [0.3, 0.42, 0.9, 1.02, 1.5]  # pairs 120 ms apart: the first has not decayed 40 dB
    frames, _, _ = extract(hits_take(tmp_path / "take.wav", close), FC)
    assert len(find_events(frames, FC, SplitSettings(method="onset"))) > len(
        find_events(frames, FC, SplitSettings(method="silence"))
    )


def tail_take(path: Path, rate: int = 8000) -> list[float]:
    """Loud noise bursts, each followed 150 ms later by a pitched knock on the burst's decaying tail.

    The knock never comes within 40 dB of silence's threshold and its rise is in a few low mel
    bands only: the mean onset strength over all bands (the earlier detector) merged every pair.
    """
    rng = np.random.default_rng(1)
    take = 1e-4 * rng.standard_normal(6 * rate)
    t = np.arange(int(0.4 * rate)) / rate
    onsets = []
    for k in range(6):
        burst = 0.8 * np.exp(-t / 0.1) * rng.standard_normal(t.size)
        knock = 0.5 * np.exp(-t / 0.06) * np.sin(2 * np.pi * 150 * t)
        for at, hit in ((0.3 + 0.9 * k, burst), (0.45 + 0.9 * k, knock)):
            take[int(at * rate) : int(at * rate) + hit.size] += hit
            onsets.append(at)
    sf.write(path, np.clip(take, -1, 1).astype(np.float32), rate, subtype="PCM_16")
    return onsets


def word_take(path: Path, rate: int = 8000) -> list[tuple[float, float]]:
    """Four speech-like words of 0.6 s with pauses: three voiced syllables each, slow attacks, the
    level dipping 15 dB between syllables but never to silence; returns each word's span (s)."""
    t = np.arange(int(0.6 * rate)) / rate
    phase = 2 * np.pi * np.cumsum(120 * (1 - 0.2 * t)) / rate  # a falling pitch, as in speech
    voice = sum(np.sin(h * phase) / h for h in range(1, 12))
    syllables = np.max([np.sin(np.pi * np.clip((t - at) / 0.2, 0, 1)) ** 0.7 for at in (0, 0.2, 0.4)], axis=0)
    dip = 10 ** (-15 / 20)
    word = 0.3 * (dip + (1 - dip) * syllables) * voice
    rng = np.random.default_rng(2)
    pieces, spans, at = [1e-4 * rng.standard_normal(int(0.3 * rate))], [], 0.3
    for gap in (0.5, 0.7, 0.4, 0.6):
        pieces += [word * rng.uniform(0.5, 1.0), 1e-4 * rng.standard_normal(int(gap * rate))]
        spans.append((at, at + 0.6))
        at += 0.6 + gap
    sf.write(path, np.concatenate(pieces).astype(np.float32), rate, subtype="PCM_16")
    return spans


def test_a_hit_on_the_previous_hits_tail_is_its_own_event(tmp_path):
    onsets = tail_take(tmp_path / "take.wav")
    frames, _, _ = extract(tmp_path / "take.wav", FC)
    settings = SplitSettings()  # auto: this take is percussive, so onsets cut
    assert choose_method(frames, FC, settings) == "onset"
    events = find_events(frames, FC, settings)
    frame = FC.hop_length / FC.sample_rate
    found = np.array([start * frame + settings.pad_seconds for start, _ in events])
    # Every hit starts an event, its lead-in kept (the knock's start is not pushed past its onset).
    assert max(np.abs(found - at).min() for at in onsets) < 0.04
    assert len(events) <= len(onsets) + 1  # a flicker of the noise tail may cut once more
    # On the audio, the knock's onset is its own attack, not the louder tail before it.
    knocks = onsets[1::2]
    refined = refine_onsets(tmp_path / "take.wav", [at + 0.012 for at in knocks])
    assert np.abs(np.array(refined) - np.array(knocks)).max() < 0.003


def test_a_word_with_syllable_onsets_stays_one_event(tmp_path):
    spans = word_take(tmp_path / "words.wav")
    frames, _, _ = extract(tmp_path / "words.wav", FC)
    assert choose_method(frames, FC, SplitSettings()) == "silence"
    frame = FC.hop_length / FC.sample_rate
    events = [(start * frame, end * frame) for start, end in find_events(frames, FC, SplitSettings())]
    assert len(events) == len(spans)
    for (start, end), (a, b) in zip(events, spans):
        assert a - 0.1 <= start < a + 0.05 and b - 0.05 < end <= b + 0.1
    # Forcing onset cuts cuts every word at its syllables: why auto chooses silence here.
    assert len(find_events(frames, FC, SplitSettings(method="onset"))) > len(spans)


def test_long_events_are_cut_and_short_ones_dropped(tmp_path):
    frames, _, _ = extract(hits_take(tmp_path / "take.wav", ONSETS), FC)
    settings = SplitSettings(method="silence", gap_seconds=1.0, max_seconds=1.0)  # all one sound
    events = find_events(frames, FC, settings)
    frame = FC.hop_length / FC.sample_rate
    assert len(events) >= 5 and all((end - start) * frame <= 1.0 + 1e-9 for start, end in events)
    assert find_events(frames, FC, SplitSettings(min_seconds=2.0)) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"top_db": 0}, "data.split_db=0 must be > 0"),
        (
            {"min_seconds": 1.0, "max_seconds": 0.5},
            "data.split_max_seconds=0.5 is below data.split_min_seconds=1",
        ),
        ({"method": "energy"}, "data.split='energy': choose one of silence, onset"),
        ({"pad_seconds": -1}, "data.split_pad_seconds=-1 must be >= 0"),
    ],
)
def test_absurd_settings_are_one_line_errors(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        SplitSettings(**changes)


def test_dataset_of_events_keeps_labels_and_lists_silent_takes(tmp_path):
    root = tmp_path / "data"
    (root / "kit").mkdir(parents=True)
    (root / "room").mkdir()
    hits_take(root / "kit" / "take.wav", ONSETS)
    sf.write(root / "room" / "silence.wav", np.zeros(8000 * 2, dtype=np.float32), 8000)
    sf.write(root / "room" / "hum.wav", (0.3 * np.sin(np.arange(4000) / 8000 * 2 * np.pi * 200)), 8000)
    data = load_dataset(root, FC, progress=False, split=SplitSettings())
    assert len(data) == len(ONSETS) + 1  # every hit, plus the hum (a one-shot is one event)
    assert data.class_names == ["kit", "room"] and sorted(set(data.files)) == ["kit/take.wav", "room/hum.wav"]
    assert [reason for rel, reason in data.skipped if rel == "room/silence.wav"] == [
        "no sound event (auto, 40 dB below its peak)"
    ]
    rel, start, end, label = data.events()[1]
    assert (rel, label) == ("kit/take.wav", "kit")
    # The listing's starts are sample-accurate onsets (read from the audio) less the 30 ms lead-in;
    # the frames' own starts are on the 8 ms frame grid.
    starts = np.array([start for _, start, _, _ in data.events()[: len(ONSETS)]])
    assert np.abs(starts + 0.03 - np.array(ONSETS)).max() < 0.002
    frame = FC.hop_length / FC.sample_rate
    assert np.abs(data.starts[: len(ONSETS)] * frame + 0.03 - np.array(ONSETS)).max() < 0.05
    # Events are views into the same cache: the frames equal the take's own frames there.
    whole, _, _ = extract(root / "kit" / "take.wav", FC)
    np.testing.assert_array_equal(data.log_mel(1), whole[data.starts[1] : data.starts[1] + data.lengths[1]])


def test_a_folder_without_any_event_is_one_clear_error(tmp_path):
    root = tmp_path / "quiet"
    root.mkdir()
    sf.write(root / "a.wav", np.zeros(8000, dtype=np.float32), 8000)
    sf.write(root / "b.wav", np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(DataError, match=r"no sound events in .*quiet at data\.split_db=40"):
        load_dataset(root, FC, progress=False, split=SplitSettings())


def prepare(*args: str) -> list[str]:
    return [
        "prepare",
        *args,
        "--sample-rate",
        "8000",
        "--n-fft",
        "256",
        "--hop-length",
        "64",
        "--n-mels",
        "32",
    ]


def test_prepare_split_lists_and_exports_events(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "kit").mkdir(parents=True)
    hits_take(root / "kit" / "take.wav", ONSETS)
    slices, listing = tmp_path / "slices", tmp_path / "events.csv"
    args = prepare(str(root), "--split", "--quiet", "--listing", str(listing), "--export-slices", str(slices))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"events:      {len(ONSETS)} from 1 file(s) (auto, 40 dB)" in out
    rows = listing.read_text().splitlines()
    assert rows[0] == "file,start_s,end_s,label" and len(rows) == len(ONSETS) + 1
    assert rows[1].startswith("kit/take.wav,0.2") and rows[1].endswith(",kit")
    wavs = sorted((slices / "kit").glob("take_*.wav"))
    assert len(wavs) == len(ONSETS)
    audio, rate = sf.read(wavs[0])
    assert rate == 8000 and 0.1 < len(audio) / rate < 0.5 and np.abs(audio).max() > 0.1
    # the slices folder is a training folder of the same class; exporting again into it is refused
    assert main(prepare(str(slices), "--quiet")) == 0
    assert main(args) == 2
    assert "is not empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--split", "--split-db", "0"], "--split-db=0 must be > 0"),
        (["--split", "--split-min", "1", "--split-max", "0.5"], "--split-max=0.5 is below --split-min=1"),
        (["--split-db", "30"], "--split-\\*, --listing and --export-slices need --split"),
    ],
)
def test_prepare_split_option_errors_name_the_flag(tmp_path, capsys, extra, message):
    root = tmp_path / "data"
    root.mkdir()
    hits_take(root / "take.wav", ONSETS[:3])
    assert main(prepare(str(root), "--quiet", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message.replace("\\", "") in err


def test_training_on_events(tmp_path):
    from audiogan.training.loop import train

    root = tmp_path / "data"
    (root / "kit").mkdir(parents=True)
    (root / "tom").mkdir()
    hits_take(root / "kit" / "take.wav", ONSETS)
    hits_take(root / "tom" / "take.wav", ONSETS[:6])
    config = {
        "train": {
            "steps": 3,
            "batch_size": 4,
            "seq_frames": 8,
            "log_every": 1,
            "sample_every": 0,
            "device": "cpu",
            "eval_every": 0,
        },
        "data": {"split": "onset", "pad_short": True},
        "feature": {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32},
        "generator": {"name": "gru", "hidden_size": 8, "num_layers": 1, "latent_dim": 4, "label_dim": 2},
        "discriminator": {"name": "gru", "hidden_size": 8, "num_layers": 1},
    }
    result = train(root, tmp_path / "run", config, progress=False)
    assert result.step == 3
    assert 'split = "onset"' in (tmp_path / "run" / "config.toml").read_text()


def test_vocoder_clips_of_events_are_their_own_audio(tmp_path):
    from audiogan.features import MelFrontEnd
    from audiogan.vocoder.data import AudioClips

    root = tmp_path / "data"
    root.mkdir()
    hits_take(root / "take.wav", ONSETS)
    data = load_dataset(root, FC, progress=False, split=SplitSettings())
    clips = AudioClips(data)
    front = MelFrontEnd(data.feature_config)
    for i in (0, 5, 11):
        assert clips.audio[i].shape[0] == clips.mels[i].shape[0] * FC.hop_length
        with torch.no_grad():
            again = front.log_mel(torch.from_numpy(clips.audio[i]))[0].numpy()
        inner = slice(4, clips.mels[i].shape[0] - 4)  # the slice's own edges see no neighbours
        np.testing.assert_allclose(again[inner], clips.mels[i][inner], atol=1e-3)
