"""Metric implementations against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from audiogan.evaluation import metrics


def test_identical_sets_have_zero_frechet_distance() -> None:
    x = np.random.default_rng(0).standard_normal((500, 6)) @ np.random.default_rng(1).standard_normal((6, 6))
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_shifted_gaussians_give_squared_mean_difference() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 5)) @ rng.standard_normal((5, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    # the same samples shifted: covariances are identical, so FD = ||shift||^2 exactly
    assert metrics.frechet_distance(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_frechet_closed_form_for_diagonal_covariances() -> None:
    # N(0, diag(a)) vs N(0, diag(b)): FD = sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    value = metrics.frechet_from_stats(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b), eps=0)
    assert value == pytest.approx(float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum()), rel=1e-9)


def test_frechet_survives_rank_deficient_covariance() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 40))  # fewer samples than dimensions: singular covariance
    y = rng.standard_normal((10, 40)) + 1.0
    value = metrics.frechet_distance(x, y)
    assert np.isfinite(value) and value > 30  # the mean shift alone contributes 40


def test_window_vectors_are_consecutive_frames_in_time_order() -> None:
    seq = np.arange(12, dtype=float).reshape(6, 2)  # frame t = [2t, 2t+1]
    windows = metrics.window_vectors([seq, seq[:2]], k=3, hop=2)
    assert windows.shape == (2, 6)  # the 2-frame clip is too short
    np.testing.assert_array_equal(windows[0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(windows[1], [4, 5, 6, 7, 8, 9])


def test_pca_keeps_the_dominant_direction() -> None:
    rng = np.random.default_rng(0)
    direction = np.ones(8) / np.sqrt(8)
    x = rng.standard_normal((300, 1)) * 10 * direction + rng.standard_normal((300, 8)) * 0.1
    pca = metrics.PCA(1).fit(x)
    assert abs(pca.components[0] @ direction) > 0.99
    assert pca.transform(x).shape == (300, 1)


def test_window_fd_separates_temporal_structure_from_frame_statistics() -> None:
    rng = np.random.default_rng(0)
    # smooth random walks: strong frame-to-frame correlation
    real = [np.cumsum(rng.standard_normal((40, 4)), axis=0) * 0.3 for _ in range(60)]
    more_real = [np.cumsum(rng.standard_normal((40, 4)), axis=0) * 0.3 for _ in range(60)]
    iid = metrics.gaussian_frame_model(real, [40] * 60, seed=1)
    fd = metrics.WindowFD(real, k=6, pca_dim=16)
    real_scores, iid_scores = fd.scores(more_real), fd.scores(iid)
    assert iid_scores["window_fd"] > 5 * real_scores["window_fd"]
    # frames alone barely tell them apart compared with windows
    assert iid_scores["frame_fd"] / iid_scores["window_fd"] < 0.5


def test_kmeans_recovers_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    x = np.concatenate([c + rng.standard_normal((50, 2)) for c in centres])
    found, labels = metrics.kmeans(x, 3, seed=0)
    assert sorted(np.bincount(labels).tolist()) == [50, 50, 50]
    assert (
        np.abs(np.sort(found[:, 0] + 100 * found[:, 1]) - np.sort(centres[:, 0] + 100 * centres[:, 1])).max()
        < 60
    )


def test_ndb_finds_a_dropped_mode_and_accepts_a_fresh_sample() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 3)) * 20

    def sample(n: int, modes: list[int]) -> np.ndarray:
        picks = rng.choice(modes, n)
        return centres[picks] + rng.standard_normal((n, 3))

    real = sample(1000, [0, 1, 2, 3, 4])
    same = metrics.ndb(real, sample(1000, [0, 1, 2, 3, 4]), bins=5, seed=0)
    dropped = metrics.ndb(real, sample(1000, [0, 1, 2, 3]), bins=5, seed=0)
    assert same.ndb <= 1 and same.js < 0.01
    assert dropped.ndb >= 1 and dropped.js > 0.05
    assert min(dropped.generated_proportions) == 0.0  # the missing mode's bin is empty
    assert 0 < dropped.ndb_k <= 1


def test_classifier_separates_easy_classes_and_inception_score() -> None:
    rng = np.random.default_rng(0)

    def clips(label: int, n: int) -> list[np.ndarray]:
        # class c: energy in mel bin c rising over time, plus noise
        out = []
        for _ in range(n):
            seq = rng.standard_normal((int(rng.integers(12, 30)), 6)) * 0.5
            seq[:, label] += np.linspace(0, 3, len(seq))
            out.append(seq)
        return out

    train = [c for label in range(3) for c in clips(label, 30)]
    test = [c for label in range(3) for c in clips(label, 20)]
    y_train, y_test = np.repeat(np.arange(3), 30), np.repeat(np.arange(3), 20)
    clf = metrics.ClipClassifier(3, steps=200).fit(metrics.clip_embeddings(train), y_train)
    assert clf.accuracy(metrics.clip_embeddings(test), y_test) > 0.95
    probs = clf.predict_proba(metrics.clip_embeddings(test))
    assert metrics.inception_score(probs) > 2.5  # near the maximum of 3 for confident, balanced predictions
    one_class = clf.predict_proba(metrics.clip_embeddings(test[:20]))
    assert metrics.inception_score(one_class) < 1.3  # collapse onto one class scores near 1


def test_inception_score_limits() -> None:
    assert metrics.inception_score(np.full((10, 4), 0.25)) == pytest.approx(1.0)
    assert metrics.inception_score(np.eye(4)) == pytest.approx(4.0, rel=1e-6)


def test_diversity_drops_under_mode_collapse() -> None:
    rng = np.random.default_rng(0)
    varied = rng.standard_normal((50, 8))
    collapsed = np.repeat(varied[:1], 50, axis=0) + 0.01 * rng.standard_normal((50, 8))
    assert metrics.diversity(collapsed) < 0.05 * metrics.diversity(varied)
    assert np.isnan(metrics.diversity(varied[:1]))


def test_active_rms_ignores_trailing_silence() -> None:
    tone = 0.5 * np.sin(np.linspace(0, 200 * np.pi, 8000))
    padded = np.concatenate([tone, np.zeros(6000)])
    assert metrics.active_rms(padded) == pytest.approx(metrics.active_rms(tone), rel=0.05)
    assert metrics.active_rms(3 * tone) == pytest.approx(3 * metrics.active_rms(tone))


def test_lag_correlation_sees_temporal_structure_only() -> None:
    rng = np.random.default_rng(0)
    smooth = [np.cumsum(rng.standard_normal((50, 3)), axis=0) for _ in range(20)]
    # i.i.d. frames around very different per-clip means: no structure once each clip is centred
    iid = [rng.standard_normal((50, 3)) + rng.uniform(-10, 10, 3) for _ in range(20)]
    assert metrics.lag_correlation(smooth, 1) > 0.5
    assert abs(metrics.lag_correlation(iid, 1)) < 0.1
