"""Whole-sound mode: every clip trimmed to its sound on a canvas of silence, learned lengths.

The corpus is written here: two classes whose sounds differ in length (a short pluck, a long
chirp) placed at random offsets in faint noise, plus long recordings for the crop-mode choice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiogan.checkpoint import load_checkpoint, sound_record
from audiogan.cli import main
from audiogan.config import FeatureConfig
from audiogan.data.dataset import SequenceSampler, load_dataset
from audiogan.data.trim import denormalise, loud_span, normalise
from audiogan.data.whole import (
    FRAME_LIMIT,
    WholeSounds,
    bound_frames,
    choose_mode,
    plan_whole,
    silence_floor,
    sound_frames,
)
from audiogan.errors import ConfigError
from audiogan.training.config import DataConfig
from benchmarks.whole_learning import SAMPLE_RATE, write_lengths_corpus

FC = FeatureConfig(sample_rate=SAMPLE_RATE, n_fft=256, hop_length=128, n_mels=24)
FRAME = FC.hop_length / FC.sample_rate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_lengths_corpus(tmp_path_factory.mktemp("whole") / "corpus", per_class=4)


@pytest.fixture(scope="module")
def dataset(corpus):
    return load_dataset(corpus, FC, progress=False, workers=1)


def test_each_clip_becomes_its_trimmed_sound_then_silence(dataset) -> None:
    whole = plan_whole(dataset, "auto", pad_seconds=0.0)
    assert whole is not None  # 0.6 s one-shots: auto picks whole sounds
    short = [
        whole.lengths[i] for i in range(len(dataset)) if dataset.class_names[dataset.labels[i]] == "short"
    ]
    long = [whole.lengths[i] for i in range(len(dataset)) if dataset.class_names[dataset.labels[i]] == "long"]
    # the sounds (0.12 s pluck, 0.40 s chirp), not the 0.6 s files
    assert max(short) * FRAME < 0.3 and 0.35 < min(long) * FRAME < 0.55
    assert whole.canvas == max(whole.lengths)  # the 99th percentile, never past the longest sound
    out = np.empty((whole.canvas, FC.n_mels), dtype=np.float32)
    i = int(np.argmin(whole.lengths))
    whole.example(dataset, i, out)
    n = int(whole.lengths[i])
    start = int(whole.spans[i, 0])
    expected = np.clip(dataset.clip(i)[start : start + n], whole.silence, FRAME_LIMIT)
    np.testing.assert_allclose(out[:n], expected, atol=1e-6)
    assert (out[n:] == whole.silence).all()  # silence after the sound, the value G can reach
    assert out.min() >= np.float32(-FRAME_LIMIT) and out.max() <= np.float32(FRAME_LIMIT)
    # the trim rule finds the sound again in the example, silence included
    assert loud_span(denormalise(out, dataset.feature_config), whole.trim_db) == (0, n)


def test_pad_keeps_recording_either_side_of_the_sound(dataset) -> None:
    bare = plan_whole(dataset, "whole", pad_seconds=0.0)
    padded = plan_whole(dataset, "whole", pad_seconds=2 * FRAME)
    assert bare is not None and padded is not None and padded.pad_frames == 2
    assert (padded.spans[:, 0] == np.maximum(bare.spans[:, 0] - 2, 0)).all()
    assert (padded.lengths >= bare.lengths + 2).all()


def test_auto_picks_crops_for_long_recordings(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for k in range(3):
        tone = np.sin(2 * np.pi * 300 * np.arange(6 * SAMPLE_RATE) / SAMPLE_RATE) * (0.3 + 0.1 * k)
        noisy = tone + 0.01 * rng.standard_normal(tone.size)
        (tmp_path / "long").mkdir(exist_ok=True)
        sf.write(tmp_path / "long" / f"take-{k}.wav", noisy.astype(np.float32), SAMPLE_RATE)
    ds = load_dataset(tmp_path / "long", FC, progress=False, workers=1)
    assert plan_whole(ds, "auto") is None and plan_whole(ds, "crop") is None
    forced = plan_whole(ds, "whole", canvas_seconds=1.0)
    assert forced is not None and forced.canvas == math.ceil(1.0 / FRAME)
    assert (forced.lengths > forced.canvas).all()  # longer sounds keep their first canvas frames
    assert choose_mode(np.array([0.5, 1.0, 3.9])) == "whole" and choose_mode(np.array([5.0] * 3)) == "crop"
    with pytest.raises(ConfigError, match="data.canvas_seconds lower or use data.mode=crop"):
        plan_whole(ds, "whole", canvas_seconds=1000.0)


def test_generated_frames_get_the_real_frames_bounds() -> None:
    fc = FeatureConfig(n_mels=4, mel_mean=[-4.0, -5.0, -6.0, -9.0], mel_std=[2.0, 2.0, 1.0, 0.5])
    floor = silence_floor(fc)
    raw = (np.log(fc.log_floor) - np.array(fc.mel_mean)) / (fc.norm_scale * np.array(fc.mel_std))
    np.testing.assert_allclose(floor, np.clip(raw, -FRAME_LIMIT, FRAME_LIMIT), rtol=1e-6)
    np.testing.assert_allclose(normalise(denormalise(floor[None], fc), fc)[0], floor, rtol=1e-6)
    frames = torch.tensor([[-1.25, -0.5, 0.0, 1.25], [2.0, -3.0, -1.19, -1.0]])
    bounded = bound_frames(frames, torch.from_numpy(floor))
    assert torch.all(bounded >= torch.from_numpy(floor)) and torch.all(bounded <= FRAME_LIMIT)
    assert bounded[0, 2] == 0.0 and bounded[0, 3] == FRAME_LIMIT


def test_sound_frames_ends_a_generated_clip_where_its_sound_ends() -> None:
    fc = FeatureConfig(n_mels=3, mel_mean=[-5.0] * 3, mel_std=[2.0] * 3)
    floor = silence_floor(fc)
    frames = np.tile(floor, (20, 1))
    frames[2:9] = 0.5  # a sound in frames 2..8, silence after
    record = {"trim_db": 40.0, "pad_frames": 2}
    assert sound_frames(frames, fc, record) == 9 + 2
    assert sound_frames(frames, fc, {"trim_db": 40.0, "pad_frames": 0}) == 9
    assert sound_frames(frames[:3], fc, record, at_least=5) == 3  # never past the frames there are
    frames[:] = floor  # all silence: the peak is the floor itself, so every frame is "loud"
    assert sound_frames(frames, fc, record) == 20


def test_sampler_draws_whole_examples_from_every_clip(dataset) -> None:
    whole = plan_whole(dataset, "whole")
    assert whole is not None
    # a crop of 40 frames is longer than every sound: crop mode would use no clip at all
    sampler = SequenceSampler(dataset, batch_size=8, seq_frames=40, seed=1, whole=whole)
    assert sampler.seq_frames == whole.canvas and len(sampler.eligible) == len(dataset)
    assert sampler.too_short() == {} and "every clip is trained on" in sampler.describe_short()
    batch = sampler.next_batch()
    assert batch.frames.shape == (8, whole.canvas, FC.n_mels) and bool(batch.mask.all())
    limit = float(np.float32(FRAME_LIMIT))
    assert float(batch.frames.min()) >= -limit and float(batch.frames.max()) <= limit


def test_too_short_sounds_are_listed_by_class_and_never_sampled(dataset) -> None:
    whole = plan_whole(dataset, "whole")
    assert whole is not None
    spans = whole.spans.copy()
    spans[[0, 5]] = [[3, 4], [0, 0]]  # one frame of sound; no sound at all
    thin = WholeSounds(spans, whole.canvas, whole.silence, whole.trim_db, whole.pad_frames)
    sampler = SequenceSampler(dataset, batch_size=4, seq_frames=8, seed=0, whole=thin)
    assert 0 not in sampler.eligible and 5 not in sampler.eligible
    counts = sampler.too_short()
    assert sum(counts.values()) == 2
    names = [dataset.class_names[dataset.labels[i]] for i in (0, 5)]
    assert counts == {name: names.count(name) for name in set(names)}
    line = sampler.describe_short()
    assert line.startswith("2 of 8 clips hold less than 2 frames of sound within 40 dB")
    assert dataset.files[0] in line and dataset.files[5] in line


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"mode": "whol"}, "data.mode"),
        ({"trim_db": 0.0}, "data.trim_db"),
        ({"trim_pad_seconds": -0.1}, "data.trim_pad_seconds"),
        ({"canvas_seconds": -1.0}, "data.canvas_seconds"),
    ],
)
def test_bad_whole_settings_name_the_key(change, key) -> None:
    with pytest.raises(ConfigError, match=key):
        DataConfig(**change)


@pytest.mark.parametrize("canvas", [1, 7, 48, 61, 100, 333, 2048])
def test_the_recorded_canvas_round_trips_to_the_same_frames(canvas) -> None:
    fc = FeatureConfig(sample_rate=22050, hop_length=256)
    seconds = canvas * fc.hop_length / fc.sample_rate  # what config.toml records
    record = sound_record({"mode": "whole", "canvas_seconds": seconds, "trim_pad_seconds": 0.03}, fc)
    assert record is not None and record["canvas_frames"] == canvas
    assert sound_record({"mode": "crop"}, fc) is None


# --------------------------------------------------------------------------- train and generate


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory) -> Path:
    from audiogan.training.loop import train
    from benchmarks.whole_learning import tiny_config

    config = tiny_config(steps=4, seed=0)
    config["data"] = {"mode": "auto"}
    config["train"].update(batch_size=4, checkpoint_every=2, seq_frames=8, sample_frames=8)
    root = tmp_path_factory.mktemp("whole-run") / "run"
    train(corpus, root, config, progress=False)
    return root


def test_the_run_records_its_mode_and_canvas(run) -> None:
    import tomllib

    config = tomllib.loads((run / "config.toml").read_text())
    assert config["data"]["mode"] == "whole"  # auto, resolved for this folder
    canvas = round(config["data"]["canvas_seconds"] / FRAME)
    assert config["train"]["seq_frames"] == canvas  # the canvas, not the asked 8
    data = json.loads((run / "data.json").read_text())
    assert data["examples"].startswith("whole sounds (data.mode=whole)")
    record = load_checkpoint(run / "generator.pt")["sound"]
    assert record["mode"] == "whole" and record["canvas_frames"] == canvas and record["pad_frames"] == 2


def test_generate_gives_each_clip_its_learned_length(run, tmp_path) -> None:
    out = tmp_path / "learned"
    assert main(["generate", str(run), "--out", str(out), "--n", "6", "--device", "cpu"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    canvas = load_checkpoint(run / "generator.pt")["sound"]["canvas_frames"]
    for entry in manifest["files"]:
        audio, sr = sf.read(out / entry["file"])
        assert sr == SAMPLE_RATE and audio.shape[0] == round(entry["seconds"] * sr)
        assert entry["sound_seconds"] == entry["seconds"] and 0 < entry["seconds"] <= canvas * FRAME + 1e-9
        assert abs(audio[-1]) < 1e-3  # faded where the sound ends, no click
    assert manifest["options"]["seconds"] is None


def test_forced_seconds_pad_with_silence_or_cut_with_a_fade(run) -> None:
    import audiogan

    synth = audiogan.load(run, device="cpu")
    learned = synth.render(synth.requests(3, "long", seed=0))
    longer = synth.render(synth.requests(3, "long", seed=0), seconds=2.0)
    shorter = synth.render(synth.requests(3, "long", seed=0), seconds=0.1, normalise=False)
    for a, b, c in zip(learned, longer, shorter):
        n = a.audio.shape[0]
        assert b.audio.shape[0] == 2 * SAMPLE_RATE and not b.audio[n:].any()  # silence after
        np.testing.assert_allclose(b.audio[:n], a.audio, atol=1e-6)
        assert c.audio.shape[0] == round(0.1 * SAMPLE_RATE) and c.audio[-1] == 0.0  # cut, faded
        assert c.info["sound_seconds"] == 0.1
    chunks = list(synth.stream(0.25, label="short", seed=0, max_chunks=5))
    assert [c.shape[0] for c in chunks] == [round(0.25 * SAMPLE_RATE / 128) * 128] * 5
    # one whole sound after another: the first chunk starts as the first clip does
    first = synth.render(synth.requests(1, "short", seed=0))[0].audio
    n = min(first.shape[0], chunks[0].shape[0])
    np.testing.assert_allclose(chunks[0][:n], first[:n], atol=1e-6)


def test_prepare_prints_the_mode_auto_picks(corpus, capsys) -> None:
    args = ["prepare", str(corpus), "--sample-rate", "8000", "--n-fft", "256", "--hop-length", "128"]
    assert main(args + ["--n-mels", "24"]) == 0
    out = capsys.readouterr().out
    assert "examples:    whole sounds (data.mode=auto)" in out and "too short:   none" in out


def test_loud_span_of_a_long_take_needs_no_copy_of_its_frames():
    """`prepare` measures every file's sound span to choose data.mode; an hour-long take's frames
    (~70 MB float32) once became ~290 MB of float64 copies there, four times the 400 MB target's room."""
    import tracemalloc

    rng = np.random.default_rng(0)
    frames = rng.normal(-6.0, 1.0, size=(200_000, 80)).astype(np.float32)  # 64 MB
    frames[150_000:150_010] += 8.0  # one loud moment: the span is 40 dB around it
    expected_power = np.exp(2.0 * frames[149_000:151_000].astype(np.float64)).sum(axis=1)
    tracemalloc.start()
    try:
        start, stop = loud_span(frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"loud_span allocated {peak / 2**20:.0f} MiB for a 64 MB input"
    loud = np.flatnonzero(10 * np.log10(expected_power / expected_power.max()) >= -40.0)
    assert (start, stop) == (149_000 + loud[0], 149_000 + loud[-1] + 1)
