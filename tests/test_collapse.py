"""Collapse is seen: a generator that ignores z (one clip per class) is flagged by within-class
diversity and coverage, in ``audiogan evaluate`` and in the in-training evaluator, while one whose
z chooses among many real-like clips is not.

Both generators are one plugin file (``templates``): they replay stored normalised log-mel clips
of the asked class, made from a fresh draw of the same synthetic process as the real folder. With
``ignore_z`` every clip of a class is the same template (z and the per-frame noise are ignored);
without it, z picks one of many templates, so the set is what a perfect generator would give.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiogan.cli import main
from audiogan.data.synthetic import write_corpus
from audiogan.evaluation.evaluate import evaluate, format_table

SR = 16000
SECONDS = 0.4
N_MELS = 16

TEMPLATE_PLUGIN = '''
import dataclasses
import torch
from torch import nn
import audiogan


class TemplateGenerator(audiogan.Generator):
    """Test generator: replays stored clips of the asked class; z picks one unless ignore_z."""

    name = "templates"

    @dataclasses.dataclass
    class Config:
        """Templates per class, frames per template, and whether z is ignored."""

        per_class: int = 4
        frames: int = 8
        ignore_z: bool = False

    def __init__(self, config, feature_config, num_classes=0):
        super().__init__(config, feature_config, num_classes)
        self.latent_dim = 8
        c = self.config
        shape = (max(num_classes, 1), c.per_class, c.frames, feature_config.n_mels)
        self.register_buffer("templates", torch.zeros(shape))
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, z, labels, n_frames, state=None):
        batch, c = z.shape[0], self.config
        if state is None:
            if c.ignore_z:
                pick = torch.zeros(batch, dtype=torch.long, device=z.device)
            else:  # the normal CDF of z's first coordinate, in per_class equal bins
                u = 0.5 * (1 + torch.erf(z[:, 0] / 2**0.5))
                pick = (u * c.per_class).long().clamp(0, c.per_class - 1)
            offset = torch.zeros(batch, dtype=torch.long, device=z.device)
        else:
            pick, offset = state
        if labels is None:
            labels = torch.zeros(batch, dtype=torch.long, device=z.device)
        t = (offset[:, None] + torch.arange(n_frames, device=z.device)[None]) % c.frames
        frames = self.templates[labels[:, None], pick[:, None], t]
        return frames * self.gain, (pick, offset + n_frames)


@audiogan.hookimpl
def register_generators():
    return [TemplateGenerator]
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The real folder (3 classes x 60 clips), its FeatureSet, the plugin and both generator files."""
    from audiogan.checkpoint import generator_file, save_checkpoint
    from audiogan.config import FeatureConfig
    from audiogan.data.audio import load_audio
    from audiogan.data.dataset import load_dataset
    from audiogan.features import MelFrontEnd
    from audiogan.plugins import get_registry

    root = tmp_path_factory.mktemp("collapse")
    real = write_corpus(root / "real", per_class=60, seconds=SECONDS, sample_rate=SR, seed=0)
    fresh = write_corpus(root / "fresh", per_class=120, seconds=SECONDS, sample_rate=SR, seed=7)
    plugin = root / "template_plugin.py"
    plugin.write_text(TEMPLATE_PLUGIN)
    dataset = load_dataset(
        real,
        FeatureConfig(sample_rate=SR, n_mels=N_MELS),
        cache_dir=root / "cache",
        progress=False,
        workers=1,
    )
    fc, classes = dataset.feature_config, list(dataset.class_names)
    front = MelFrontEnd(fc)
    with torch.no_grad():  # the same features evaluate computes from real audio in generator space
        templates = torch.stack(
            [
                torch.stack(
                    [
                        front.features(torch.from_numpy(load_audio(path, SR)))[0]
                        for path in sorted((fresh / name).glob("*.wav"))
                    ]
                )
                for name in classes
            ]
        )
    registry = get_registry((str(plugin),))
    modules, files = {}, {}
    for kind, ignore_z in (("collapsed", True), ("healthy", False)):
        config = {"per_class": templates.shape[1], "frames": templates.shape[2], "ignore_z": ignore_z}
        module = registry.build("generator", "templates", config, fc, len(classes))
        module.templates.copy_(templates)
        modules[kind] = module.eval()
        files[kind] = save_checkpoint(
            generator_file(registry, "templates", module, fc, classes, step=0), root / kind / "generator.pt"
        )
    return {"real": real, "plugin": plugin, "dataset": dataset, "modules": modules, "files": files}


def scores(setup: dict, kind: str) -> dict:
    return evaluate(
        setup["files"][kind], setup["real"], k=4, mel_space="generator", plugins=[str(setup["plugin"])]
    )


def test_evaluate_flags_a_generator_that_ignores_z(setup: dict, capsys) -> None:
    code = main(
        [
            "evaluate",
            str(setup["files"]["collapsed"]),
            "--data",
            str(setup["real"]),
            "--mel-space",
            "generator",
            "--window",
            "4",
            "--plugin",
            str(setup["plugin"]),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    gen, real = result["results"]["generated"], result["results"]["real"]
    # within every class the generated clips are identical: no diversity at all
    assert gen["diversity_within"] == pytest.approx(0.0, abs=1e-5)
    assert gen["diversity_within_ratio"] < 0.1 < 0.5 < real["diversity_within_ratio"]
    assert set(gen["diversity_within_per_class"]) == {"chirp", "drums", "pluck"}
    floor = result["reference"]["diversity_within_per_class"]
    assert all(v < 0.1 * floor[c] for c, v in gen["diversity_within_per_class"].items())
    # one point per class covers only the few real clips around it; the real half covers most
    assert real["coverage"] > 0.7
    assert gen["coverage"] < 0.3 * real["coverage"]
    assert all(
        gen["coverage_per_class"][c] < real["coverage_per_class"][c] for c in ("chirp", "drums", "pluck")
    )
    # pooled diversity, which compares a "chirp" with a "pluck", does not see it
    assert gen["diversity_ratio"] > 0.5
    table = format_table(result)
    assert "pooled diversity / real" in table and "within-class diversity / real" in table
    assert "coverage" in table and "chirp" in table.split("per class")[1]


def test_a_generator_whose_z_matters_is_not_flagged(setup: dict) -> None:
    result = scores(setup, "healthy")
    gen, real = result["results"]["generated"], result["results"]["real"]
    assert gen["diversity_within_ratio"] > 0.7 * real["diversity_within_ratio"]
    assert gen["coverage"] > 0.8 * real["coverage"]
    collapsed = scores(setup, "collapsed")["results"]["generated"]
    assert gen["coverage"] > 2 * collapsed["coverage"]


def test_the_in_training_evaluator_flags_it_too(setup: dict) -> None:
    from audiogan.evaluation.in_training import evaluate_during_training, training_evaluator

    evaluator = training_evaluator(setup["dataset"], max_clips=180, k=4, pca_dim=16)
    collapsed = evaluate_during_training(setup["modules"]["collapsed"], evaluator, num_clips=90)
    healthy = evaluate_during_training(setup["modules"]["healthy"], evaluator, num_clips=90)
    assert collapsed["diversity_within"] == pytest.approx(0.0, abs=1e-5)
    assert collapsed["diversity_within_ratio"] < 0.1
    assert healthy["diversity_within_ratio"] > 0.7
    assert collapsed["diversity_within_real"] == healthy["diversity_within_real"] > 0


def test_coverage_and_within_class_diversity_on_plain_arrays() -> None:
    from audiogan.evaluation import metrics

    rng = np.random.default_rng(0)
    real, same = rng.standard_normal((200, 4)), rng.standard_normal((200, 4))
    # equal-sized draws of one distribution: about 1 - 2**-5 (Naeem et al., 2020)
    assert 0.9 < metrics.coverage(real, same, k=5) <= 1.0
    assert metrics.coverage(real, same[:1], k=5) < 0.1  # one point covers a few balls
    assert metrics.coverage(real, np.zeros((0, 4))) == 0.0
    labels = np.repeat([0, 1], 100)
    points = np.concatenate([rng.standard_normal((100, 4)), 10 + np.zeros((100, 4))])
    mean, per_class = metrics.diversity_within(points, labels)
    assert per_class[1] == 0.0 and per_class[0] > 1 and mean == pytest.approx(per_class[0] / 2)
    assert metrics.diversity(points) > per_class[0]  # pooled: the gap between classes dominates


def test_training_logs_within_class_diversity(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from audiogan.training.loop import train

    corpus = write_corpus(tmp_path / "corpus", per_class=3, seconds=SECONDS, sample_rate=SR)
    config = {
        "train": {
            "steps": 4,
            "batch_size": 4,
            "seq_frames": 8,
            "log_every": 2,
            "checkpoint_every": 4,
            "eval_every": 2,
            "eval_clips": 9,
            "eval_real_clips": 9,
            "sample_every": 0,
            "sample_frames": 8,
            "device": "cpu",
            "threads": 1,
        },
        "feature": {"n_mels": N_MELS},
        "generator": {"hidden_size": 16, "num_layers": 1, "latent_dim": 8, "noise_dim": 4, "label_dim": 4},
        "discriminator": {"hidden_size": 16, "num_layers": 1},
    }
    train(corpus, tmp_path / "run", config, progress=False)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [r for r in map(json.loads, lines) if "window_fd" in r]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert r["diversity_within"] >= 0 and r["diversity_within_real"] > 0
        assert r["diversity_within_ratio"] == pytest.approx(
            r["diversity_within"] / r["diversity_within_real"]
        )
        # clip-level figures: generated clips are the real median length, so near the real lengths
        assert 0 < r["length_mean"] <= SECONDS + 0.05 and 0 <= r["length_w1"] < SECONDS and r["clip_fd"] >= 0
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/diversity_within", "eval/diversity_within_ratio", "eval/diversity_within_real"} <= tags
    assert {"eval/length_mean", "eval/length_w1", "eval/clip_fd"} <= tags
    logged = [e.value for e in events.Scalars("eval/diversity_within_ratio")]
    assert logged == pytest.approx([r["diversity_within_ratio"] for r in records], rel=1e-5)
