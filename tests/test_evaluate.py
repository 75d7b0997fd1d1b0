"""``audiogan evaluate``: the library call, the CLI and its JSON schema, on audio the tests write."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from audiogan.cli import main
from audiogan.data.synthetic import write_corpus
from audiogan.errors import ConfigError
from audiogan.evaluation import metrics
from audiogan.evaluation.evaluate import CANDIDATES, evaluate, format_table
from audiogan.evaluation.in_training import training_evaluator

METRIC_KEYS = {
    "clips",
    "frame_fd",
    "window_fd",
    "ndb",
    "ndb_bins",
    "ndb_k",
    "ndb_js",
    "diversity",
    "diversity_ratio",
    "diversity_within",
    "diversity_within_ratio",
    "diversity_within_per_class",
    "coverage",
    "coverage_per_class",
    "accuracy",
    "inception_score",
    "length_mean",
    "length_w1",
    "clip_fd",
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real folder (3 classes x 10 clips) and a fresh draw of the same process (3 x 5)."""
    root = tmp_path_factory.mktemp("eval")
    return {
        "real": write_corpus(root / "real", per_class=10, seconds=0.4, sample_rate=16000, seed=0),
        "gen": write_corpus(root / "gen", per_class=5, seconds=0.4, sample_rate=16000, seed=7),
        "root": root,
    }


def test_cli_json_schema_table_and_plot(corpora: dict[str, Path], tmp_path: Path, capsys) -> None:
    out_json, png = tmp_path / "result.json", tmp_path / "plot.png"
    code = main(
        [
            "evaluate",
            "--data",
            str(corpora["real"]),
            "--generated",
            str(corpora["gen"]),
            "--json",
            "--output",
            str(out_json),
            "--plot",
            str(png),
            "--window",
            "4",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out_json.read_text())
    assert printed["format"] == "audiogan-evaluation" and printed["format_version"] == 1
    assert printed["class_names"] == ["chirp", "drums", "pluck"]
    assert printed["settings"]["window"] == 4 and printed["settings"]["level"] == "rms"
    assert printed["reference"]["clips"] == 15
    assert set(printed["results"]) == set(CANDIDATES)
    for name in CANDIDATES:
        assert set(printed["results"][name]) == METRIC_KEYS
        assert 0.0 <= printed["results"][name]["accuracy"] <= 1.0
    assert printed["results"]["generated"]["clips"] == 15
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the table shows every metric for the three columns
    table = format_table(printed)
    for title in ("window FD", "NDB/K", "inception score", "generated", "real (floor)", "iid gaussian"):
        assert title in table


def test_fresh_samples_beat_the_iid_reference_and_match_the_floor(
    tiny_run: Path, corpora: dict[str, Path]
) -> None:
    result = evaluate(tiny_run, corpora["real"], generated_dir=corpora["gen"], k=4)["results"]
    gen, real, gauss = result["generated"], result["real"], result["gaussian"]
    # the i.i.d. frame model has the frames but not their order: only windows expose it
    assert gauss["window_fd"] > 2 * max(gen["window_fd"], real["window_fd"])
    assert gen["accuracy"] > 0.8 and real["accuracy"] > 0.8
    assert 0.6 < gen["diversity_ratio"] < 1.5


def test_collapse_onto_one_clip_shows_in_diversity_accuracy_and_ndb(
    tiny_run: Path, corpora: dict[str, Path], tmp_path: Path
) -> None:
    collapsed = tmp_path / "collapsed"
    source = sorted((corpora["gen"] / "pluck").glob("*.wav"))[0]
    for name in ("chirp", "drums", "pluck"):  # every label answers with the same pluck
        (collapsed / name).mkdir(parents=True)
        for i in range(5):
            shutil.copy(source, collapsed / name / f"{i}.wav")
    result = evaluate(tiny_run, corpora["real"], generated_dir=collapsed, k=4)["results"]
    gen, real = result["generated"], result["real"]
    assert gen["diversity_ratio"] < 0.05
    assert gen["accuracy"] < 0.5
    assert gen["inception_score"] < 1.2 < real["inception_score"]
    assert gen["ndb_k"] > real["ndb_k"]
    assert gen["window_fd"] > 3 * real["window_fd"]


def test_level_matching_makes_a_gain_change_invisible(
    tiny_run: Path, corpora: dict[str, Path], tmp_path: Path
) -> None:
    import soundfile as sf

    quiet = tmp_path / "quiet"
    for path in sorted(corpora["gen"].rglob("*.wav")):
        audio, rate = sf.read(path)
        target = quiet / path.relative_to(corpora["gen"])
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, audio * 0.1, rate, subtype="FLOAT")  # -20 dB, no extra quantisation noise
    as_is = evaluate(tiny_run, corpora["real"], generated_dir=corpora["gen"], k=4)["results"]["generated"]
    matched = evaluate(tiny_run, corpora["real"], generated_dir=quiet, k=4)["results"]["generated"]
    raw = evaluate(tiny_run, corpora["real"], generated_dir=quiet, k=4, level="none")["results"]["generated"]
    assert matched["window_fd"] == pytest.approx(as_is["window_fd"], rel=0.05)
    assert raw["window_fd"] > 2 * as_is["window_fd"]


def test_user_errors_are_one_line(corpora: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["evaluate", "--data", str(corpora["real"])]) == 2
    assert "--generated" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--data", str(corpora["real"]), "--generated", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no audio files" in err and "\n" not in err
    assert main(["evaluate", "--data", str(tmp_path / "missing"), "--generated", str(corpora["gen"])]) == 2
    assert "missing" in capsys.readouterr().err
    # 0.4 s clips have 26 frames: no window of 100
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(corpora["real"]),
                "--generated",
                str(corpora["gen"]),
                "--window",
                "100",
            ]
        )
        == 2
    )
    assert "--window 100" in capsys.readouterr().err


def test_training_evaluator_on_a_feature_set(corpora: dict[str, Path]) -> None:
    from audiogan.config import FeatureConfig
    from audiogan.data.dataset import load_dataset

    dataset = load_dataset(
        corpora["real"],
        FeatureConfig(n_mels=32),
        cache_dir=corpora["root"] / "cache",
        progress=False,
        workers=1,
    )
    fd = training_evaluator(dataset, max_clips=20, k=4, pca_dim=32)
    clips = [dataset.clip(i) for i in range(len(dataset))]
    iid = metrics.gaussian_frame_model(clips, [len(c) for c in clips], seed=3)
    assert fd.score(clips) < fd.score(iid)


TINY_RUN = {
    "train": {
        "steps": 4,
        "batch_size": 4,
        "seq_frames": 8,
        "log_every": 2,
        "checkpoint_every": 4,
        "sample_every": 0,
        "sample_frames": 8,
        "device": "cpu",
    },
    "feature": {"n_mels": 16},
    "generator": {"hidden_size": 16, "num_layers": 1, "latent_dim": 8, "noise_dim": 4, "label_dim": 4},
    "discriminator": {"hidden_size": 16, "num_layers": 1},
    "vocoder": {"n_iter": 2, "nnls_iter": 0},
}


@pytest.fixture(scope="module")
def tiny_run(corpora: dict[str, Path]) -> Path:
    """A real (barely) trained run on the real corpus: a few steps of a tiny conditional LSTM-GAN."""
    from audiogan.training.loop import train

    run = corpora["root"] / "run"
    train(corpora["real"], run, TINY_RUN, progress=False)
    return run


def test_cli_evaluates_a_trained_run(tiny_run: Path, corpora: dict[str, Path], capsys) -> None:
    code = main(
        ["evaluate", str(tiny_run), "--data", str(corpora["real"]), "--n", "3", "--window", "4", "--json"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run"] == str(tiny_run) and result["settings"]["vocoder"] == "griffinlim"
    gen = result["results"]["generated"]
    assert set(gen) == METRIC_KEYS and gen["clips"] == 9
    # four steps of training are far from the data: worse than the floor on the headline metric
    assert gen["window_fd"] > result["results"]["real"]["window_fd"]


def test_generator_space_skips_the_vocoder_and_is_reproducible(
    tiny_run: Path, corpora: dict[str, Path]
) -> None:
    import audiogan

    synth = audiogan.load(tiny_run, device="cpu")
    first = evaluate(synth, corpora["real"], n_per_label=2, k=4, mel_space="generator")
    again = evaluate(tiny_run, corpora["real"], n_per_label=2, k=4, mel_space="generator", device="cpu")
    assert first["settings"]["level"] == "none" and first["results"]["generated"]["clips"] == 6
    assert first["results"] == again["results"]
    with pytest.raises(ConfigError, match="mel_space"):
        evaluate(tiny_run, corpora["real"], generated_dir=corpora["gen"], mel_space="generator")


def test_data_with_a_subset_of_the_run_classes(
    tiny_run: Path, corpora: dict[str, Path], tmp_path: Path
) -> None:
    subset = write_corpus(tmp_path / "subset", per_class=4, seconds=0.4, classes=("pluck", "chirp"))
    result = evaluate(tiny_run, subset, n_per_label=2, k=4, device="cpu")
    assert result["class_names"] == ["chirp", "pluck"] and result["results"]["generated"]["clips"] == 4
    other = write_corpus(tmp_path / "other", per_class=4, seconds=0.3, classes=("chirp",))
    (other / "chirp").rename(other / "bells")
    with pytest.raises(ConfigError, match="bells"):
        evaluate(tiny_run, other, generated_dir=corpora["gen"])


def test_evaluate_during_training_is_repeatable_and_leaves_the_rng_alone(corpora: dict[str, Path]) -> None:
    import torch

    from audiogan.config import FeatureConfig
    from audiogan.data.dataset import load_dataset
    from audiogan.evaluation.in_training import evaluate_during_training
    from audiogan.plugins import get_registry

    dataset = load_dataset(
        corpora["real"],
        FeatureConfig(n_mels=16),
        cache_dir=corpora["root"] / "cache16",
        progress=False,
        workers=1,
    )
    evaluator = training_evaluator(dataset, max_clips=30, k=4, pca_dim=16)
    torch.manual_seed(0)
    generator = (
        get_registry()
        .build("generator", "lstm", TINY_RUN["generator"], dataset.feature_config, dataset.num_classes)
        .train()
    )
    state = torch.get_rng_state()
    first = evaluate_during_training(generator, evaluator, num_clips=12)
    assert torch.equal(torch.get_rng_state(), state) and generator.training
    assert first == evaluate_during_training(generator, evaluator, num_clips=12)
    assert set(first) == {
        "frame_fd",
        "window_fd",
        "diversity_within",
        "diversity_within_real",
        "diversity_within_ratio",
        "length_mean",
        "length_w1",
        "clip_fd",
    } and all(v >= 0 for v in first.values())
    # an untrained generator is much farther from the data than the data itself
    assert first["window_fd"] > 3 * evaluator.score([dataset.clip(i) for i in range(len(dataset))])


def test_scores_the_output_folder_of_audiogan_generate(
    tiny_run: Path, corpora: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "generate",
                str(tiny_run),
                "--out",
                str(out),
                "--per-label",
                "2",
                "--seconds",
                "0.4",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(tiny_run),
                "--data",
                str(corpora["real"]),
                "--generated",
                str(out),
                "--window",
                "4",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    gen = result["results"]["generated"]
    assert gen["clips"] == 6 and gen["accuracy"] is not None  # labels read from label-<name>_ file names
    assert result["settings"]["vocoder"] is None and result["generated_dir"] == str(out)


def test_clip_level_figures_see_length_and_ignore_silence(
    tiny_run: Path, corpora: dict[str, Path], tmp_path: Path
) -> None:
    """The same real clips with silence around them keep their length; the same sounds played twice
    in a row are twice as long, which the length figures see."""
    import soundfile as sf

    padded, doubled = tmp_path / "padded", tmp_path / "doubled"
    for path in sorted(corpora["gen"].rglob("*.wav")):
        audio, sr = sf.read(path, dtype="float32")
        rel = path.relative_to(corpora["gen"])
        for root, out in (
            (padded, np.concatenate([np.zeros(sr // 5), audio, np.zeros(sr // 5)])),
            (doubled, np.concatenate([audio, audio])),
        ):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / rel, out.astype(np.float32), sr)
    plain = evaluate(tiny_run, corpora["real"], generated_dir=corpora["gen"], k=4)["results"]
    quiet = evaluate(tiny_run, corpora["real"], generated_dir=padded, k=4)["results"]["generated"]
    twice = evaluate(tiny_run, corpora["real"], generated_dir=doubled, k=4)["results"]["generated"]
    fresh, real = plain["generated"], plain["real"]
    assert 0.2 < real["length_mean"] < 0.45 and real["length_w1"] < 0.05
    assert abs(quiet["length_mean"] - fresh["length_mean"]) < 0.02 and quiet["length_w1"] < 0.05
    assert twice["length_mean"] > 1.8 * fresh["length_mean"] and twice["length_w1"] > 0.2
    assert twice["clip_fd"] > fresh["clip_fd"]


def test_clip_metrics_known_values() -> None:
    from audiogan.config import FeatureConfig
    from audiogan.evaluation.clips import clip_fd, nonsilent_seconds, wasserstein_1d

    fc = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=80, n_mels=4)
    fc.mel_mean, fc.mel_std, fc.norm_scale = [0.0] * 4, [1.0] * 4, 1.0
    clip = np.full((20, 4), -10.0)  # natural-log magnitude: -87 dB below the loud frames
    clip[5:15] = 0.0
    clip[9] = -1.0  # a dip of 8.7 dB inside the sound does not end it
    assert nonsilent_seconds(clip, fc) == pytest.approx(10 * 80 / 8000)
    assert nonsilent_seconds(clip, fc, top_db=5.0) == pytest.approx(10 * 80 / 8000)
    assert nonsilent_seconds(np.zeros((0, 4)), fc) == 0.0
    assert wasserstein_1d([0.0, 1.0, 2.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert wasserstein_1d([0.0] * 10, [0.5] * 7) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    sets = [rng.standard_normal((30, 4)) for _ in range(40)]
    shifted = [s + 1.0 for s in sets]
    assert clip_fd(sets, sets) < 1e-6 and clip_fd(sets, shifted) > 3.0
