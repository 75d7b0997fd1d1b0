"""Metric functions on mel feature sequences: Frechet distances, NDB, a small classifier, diversity
(pooled and within class) and coverage.

Everything here works on plain arrays in the engine's layout: a clip is ``(T, M)`` (frames, mel
bins), a set of clips is a sequence of such arrays with varying ``T``. Nothing reads files or
knows about runs; :mod:`audiogan.evaluation.evaluate` does the orchestration. Linear algebra is float64
numpy (no scipy, no scikit-learn), the classifier is a tiny torch MLP trained full-batch on CPU.

Window vectors are the headline: a model that matches single frames but not how they follow
each other (an i.i.d. frame model) scores well on the frame distance and badly on the window one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from audiogan.runtime import one_thread

__all__ = [
    "PCA",
    "ClipClassifier",
    "WindowFD",
    "clip_embeddings",
    "clip_statistics",
    "coverage",
    "diversity",
    "diversity_within",
    "frame_vectors",
    "frechet_distance",
    "frechet_from_stats",
    "gaussian_frame_model",
    "gaussian_stats",
    "inception_score",
    "active_rms",
    "kmeans",
    "lag_correlation",
    "ndb",
    "window_vectors",
]


# --------------------------------------------------------------------------- Frechet distance


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of the rows of ``x`` ``(N, D)``, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need an (N, D) array with N >= 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_from_stats(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2).

    ``||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2)``. The trace term is computed as
    ``sum sqrt(eig(C1^1/2 C2 C1^1/2))``: that matrix is symmetric PSD, so ``eigh`` is exact and
    stable where a general ``sqrtm`` of the non-symmetric product turns complex or blows up on
    near-singular covariances. ``eps`` is added to both diagonals (scaled by the mean variance)
    so rank-deficient covariances (fewer samples than dimensions) stay well conditioned.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if eps > 0:
        scale = max(float(np.trace(cov1) + np.trace(cov2)) / (2 * cov1.shape[0]), 1e-12)
        cov1 = cov1 + eps * scale * np.eye(cov1.shape[0])
        cov2 = cov2 + eps * scale * np.eye(cov2.shape[0])
    root1 = _sqrt_psd(cov1)
    cross = np.linalg.eigvalsh(_sym(root1 @ cov2 @ root1))
    trace_sqrt = float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def _sym(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2


def frechet_distance(x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussian fits of the rows of ``x`` ``(N, D)`` and ``y`` ``(M, D)``."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance needs (N, D) and (M, D) arrays, got {x.shape} and {y.shape}")
    return frechet_from_stats(*gaussian_stats(x), *gaussian_stats(y), eps=eps)


# --------------------------------------------------------------------------- frames and windows


def frame_vectors(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """All frames of all clips stacked: ``(sum T_i, M)`` float64."""
    sequences = [np.asarray(s) for s in sequences]
    if not sequences:
        raise ValueError("no sequences given")
    return np.concatenate(sequences, axis=0).astype(np.float64)


def window_vectors(sequences: Sequence[np.ndarray], k: int = 8, hop: int = 1) -> np.ndarray:
    """Every run of ``k`` consecutive frames (every ``hop`` frames) flattened: ``(N, k * M)`` float64.

    Clips shorter than ``k`` frames contribute nothing.
    """
    if k < 1 or hop < 1:
        raise ValueError(f"window k={k} and hop={hop} must be >= 1")
    parts = []
    n_mels = None
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.float64)
        n_mels = seq.shape[1]
        if seq.shape[0] < k:
            continue
        # (T - k + 1, M, k) view -> (n, k, M) -> (n, k*M): frame-major, so a window reads in time order
        view = np.lib.stride_tricks.sliding_window_view(seq, k, axis=0)[::hop]
        parts.append(view.transpose(0, 2, 1).reshape(view.shape[0], -1))
    if not parts:
        return np.zeros((0, k * (n_mels or 0)))
    return np.concatenate(parts, axis=0)


class PCA:
    """Principal components fitted on real data (eigen-decomposition of the covariance) to shrink
    window vectors. ``n_components`` is capped at ``D``; when it reaches ``D`` the transform is a
    rotation and distances are unchanged."""

    def __init__(self, n_components: int = 64) -> None:
        self.n_components = int(n_components)
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None  # (C, D)
        self.explained_variance_ratio: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> PCA:
        """Fit on rows of ``x`` ``(N, D)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"PCA needs (N, D) with N >= 2, got {x.shape}")
        self.mean = x.mean(axis=0)
        # eigh of the (D, D) covariance rather than an SVD of the (N, D) data: the same axes,
        # and far cheaper when N (windows) is much larger than D
        centred = x - self.mean
        values, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(values)[::-1]
        count = min(self.n_components, x.shape[1])
        self.components = vectors[:, order[:count]].T
        variance = np.clip(values[order], 0.0, None)
        self.explained_variance_ratio = variance[:count] / max(float(variance.sum()), 1e-300)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project rows of ``x`` ``(N, D)`` to ``(N, C)``."""
        if self.components is None or self.mean is None:
            raise RuntimeError("PCA.transform called before fit")
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """Fit on ``x`` and return its projection."""
        return self.fit(x).transform(x)


class WindowFD:
    """Window (and frame) Frechet distance against a fixed real set, cheap enough to run in training.

    Real statistics and the PCA are computed once; :meth:`score` only fits the generated set.
    Sequences are ``(T, M)`` arrays in one common feature scale (the engine's normalised one).

    >>> fd = WindowFD(real_clips, k=8, pca_dim=64)   # doctest: +SKIP
    >>> fd.score(generated_clips)                     # doctest: +SKIP
    """

    def __init__(
        self, real_sequences: Sequence[np.ndarray], k: int = 8, pca_dim: int = 64, hop: int = 1
    ) -> None:
        self.k, self.hop = int(k), int(hop)
        windows = window_vectors(real_sequences, self.k, self.hop)
        if windows.shape[0] < 2:
            raise ValueError(f"WindowFD needs real clips with at least {self.k + 1} frames in all")
        # PCA only where it shrinks anything: below pca_dim the raw windows are kept exactly
        self.pca = PCA(pca_dim).fit(windows) if windows.shape[1] > pca_dim else None
        reduced = self.pca.transform(windows) if self.pca is not None else windows
        self.window_stats = gaussian_stats(reduced)
        self.frame_stats = gaussian_stats(frame_vectors(real_sequences))
        # generated clips for comparison should be as long as typical real ones
        self.median_frames = int(np.median([len(s) for s in real_sequences]))

    def project(self, sequences: Sequence[np.ndarray], hop: int | None = None) -> np.ndarray:
        """Window vectors of ``sequences`` (every ``hop`` frames) in the real data's PCA space ``(N, C)``."""
        windows = window_vectors(sequences, self.k, hop or self.hop)
        return self.pca.transform(windows) if self.pca is not None and len(windows) else windows

    def score(self, generated_sequences: Sequence[np.ndarray]) -> float:
        """Window Frechet distance of ``generated_sequences`` to the real set (lower is better)."""
        reduced = self.project(generated_sequences)
        if reduced.shape[0] < 2:
            raise ValueError(f"generated clips too short for windows of {self.k} frames")
        return frechet_from_stats(*self.window_stats, *gaussian_stats(reduced))

    def scores(self, generated_sequences: Sequence[np.ndarray]) -> dict[str, float]:
        """``{"frame_fd": ..., "window_fd": ...}`` for ``generated_sequences``."""
        frame = frechet_from_stats(*self.frame_stats, *gaussian_stats(frame_vectors(generated_sequences)))
        return {"frame_fd": frame, "window_fd": self.score(generated_sequences)}


# --------------------------------------------------------------------------- NDB


def kmeans(
    x: np.ndarray, n_clusters: int, seed: int = 0, n_init: int = 3, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding; returns ``(centroids (K, D), labels (N,))``.

    The best of ``n_init`` seeded runs by inertia; empty clusters are re-seeded on the point
    farthest from its centroid.
    """
    x = np.asarray(x, dtype=np.float64)
    if n_clusters < 1 or x.shape[0] < n_clusters:
        raise ValueError(f"k-means needs at least {n_clusters} points, got {x.shape[0]}")
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centroids = x[[rng.integers(x.shape[0])]]
        for _ in range(1, n_clusters):  # k-means++: next centre with probability ~ squared distance
            d2 = _sq_dists(x, centroids).min(axis=1)
            total = d2.sum()
            index = rng.choice(x.shape[0], p=d2 / total) if total > 0 else rng.integers(x.shape[0])
            centroids = np.vstack([centroids, x[index]])
        labels = np.full(x.shape[0], -1)
        for _ in range(max_iter):
            dists = _sq_dists(x, centroids)
            new_labels = dists.argmin(axis=1)
            if np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for c in range(n_clusters):
                members = labels == c
                if members.any():
                    centroids[c] = x[members].mean(axis=0)
                else:
                    far = dists[np.arange(x.shape[0]), labels].argmax()
                    centroids[c], labels[far] = x[far], c
        inertia = float(_sq_dists(x, centroids)[np.arange(x.shape[0]), labels].sum())
        if best is None or inertia < best[0]:
            best = (inertia, centroids.copy(), labels.copy())
    assert best is not None
    return best[1], best[2]


def _sq_dists(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(N, K)`` without forming ``(N, K, D)``."""
    d2 = (x * x).sum(1)[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(1)[None, :]
    return np.clip(d2, 0.0, None)


@dataclasses.dataclass
class NDBResult:
    """Outcome of :func:`ndb`: number of different bins, its fraction, JS divergence, proportions."""

    ndb: int  # bins whose proportions differ significantly
    bins: int  # K
    js: float  # Jensen-Shannon divergence of the bin proportions (natural log, in [0, ln 2])
    real_proportions: list[float]
    generated_proportions: list[float]

    @property
    def ndb_k(self) -> float:
        """NDB / K: the fraction of statistically different bins."""
        return self.ndb / self.bins


def ndb(
    real: np.ndarray,
    generated: np.ndarray,
    bins: int = 20,
    alpha: float = 0.05,
    seed: int = 0,
    centroids: np.ndarray | None = None,
) -> NDBResult:
    """Number of statistically different bins (Richardson & Weiss, 2018).

    k-means on the real vectors ``(N, D)`` defines ``bins`` cells (or pass ``centroids`` to
    reuse them); every generated vector ``(M, D)`` goes to its nearest centre; each bin's real
    and generated proportions meet a two-sided two-proportion z-test at ``alpha``. A dropped
    mode leaves a bin with a generated proportion near zero and counts as different.
    """
    from statistics import NormalDist

    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if centroids is None:
        centroids, _ = kmeans(real, bins, seed=seed)
    bins = centroids.shape[0]
    real_counts = np.bincount(_sq_dists(real, centroids).argmin(1), minlength=bins)
    gen_counts = np.bincount(_sq_dists(generated, centroids).argmin(1), minlength=bins)
    n1, n2 = real_counts.sum(), gen_counts.sum()
    p1, p2 = real_counts / n1, gen_counts / n2
    pooled = (real_counts + gen_counts) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = np.abs(p1 - p2) / np.where(se > 0, se, np.inf)
    critical = NormalDist().inv_cdf(1 - alpha / 2)
    different = int((z > critical).sum())
    return NDBResult(different, bins, _js(p1, p2), p1.tolist(), p2.tolist())


def _js(p: np.ndarray, q: np.ndarray) -> float:
    mid = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / b[mask])).sum())

    return 0.5 * kl(p, mid) + 0.5 * kl(q, mid)


# --------------------------------------------------------------------------- clip embeddings, classifier


def clip_embeddings(sequences: Sequence[np.ndarray], segments: int = 4) -> np.ndarray:
    """Fixed-size clip descriptors ``(N, (2 + segments) * M)``: mean, std, and the mean of each of
    ``segments`` equal time slices (coarse temporal shape, independent of clip length)."""
    rows = []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.float64)
        slices = np.array_split(seq, segments, axis=0)
        # a clip shorter than `segments` frames leaves empty slices: repeat the whole-clip mean
        means = [s.mean(0) if len(s) else seq.mean(0) for s in slices]
        rows.append(np.concatenate([seq.mean(0), seq.std(0), *means]))
    return np.stack(rows) if rows else np.zeros((0, 0))


def diversity(embeddings: np.ndarray, max_rows: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance between distinct pairs of rows (of a random ``max_rows`` when more).

    Mode collapse shows as a generated diversity well below the real data's. Distances come from
    the Gram matrix, so memory is ``(n, n)``, not ``(pairs, D)``.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.shape[0] > max_rows:
        x = x[np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False)]
    n = x.shape[0]
    if n < 2:
        return float("nan")
    sq = (x * x).sum(1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0, None)
    i, j = np.triu_indices(n, k=1)
    return float(np.sqrt(d2[i, j]).mean())


def _by_class(labels: np.ndarray) -> list[int]:
    """The class labels present, in order (``-1`` = unlabelled counts as one group)."""
    return [int(c) for c in np.unique(np.asarray(labels, dtype=np.int64))]


def diversity_within(
    embeddings: np.ndarray, labels: np.ndarray, max_rows: int = 2000, seed: int = 0
) -> tuple[float, dict[int, float]]:
    """:func:`diversity` inside each class, and its mean over the classes that have two clips or more.

    Returns ``(mean, {label: diversity})`` (``nan`` for a class with fewer than two clips, left
    out of the mean). Pooled :func:`diversity` measures mostly the distance *between* classes, so
    a conditional model whose clips of one class are all alike still scores well there; within
    each class that collapse shows as a value near zero.
    """
    x, y = np.asarray(embeddings, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    per_class = {c: diversity(x[y == c], max_rows=max_rows, seed=seed) for c in _by_class(y)}
    finite = [v for v in per_class.values() if np.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), per_class


def clip_statistics(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """Clip descriptors ``(N, 2 * M)`` that no model or fit shapes: the per-bin mean and standard
    deviation over time of each clip's normalised log-mel (the feature :func:`coverage` uses)."""
    rows = [
        np.concatenate([s.mean(0), s.std(0)]) for s in (np.asarray(q, dtype=np.float64) for q in sequences)
    ]
    return np.stack(rows) if rows else np.zeros((0, 0))


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(N, K)`` between the rows of ``x`` and ``y``."""
    return np.sqrt(_sq_dists(x, y))


def coverage(real: np.ndarray, generated: np.ndarray, k: int = 5) -> float:
    """Coverage (Naeem et al., 2020, "Reliable Fidelity and Diversity Metrics for Generative
    Models", ICML): the fraction of ``real`` rows ``(N, D)`` whose k-nearest-neighbour ball (radius:
    distance to its ``k``-th nearest other real row) holds at least one ``generated`` row ``(M, D)``.

    About ``1 - 2**-k`` (0.97 for k=5) when both sets are large equal-sized draws of one
    distribution; a collapsed model, whose samples sit on a few points, covers only the few real
    balls around them. With fewer than ``2k + 1`` real rows ``k`` is lowered to ``(N - 1) // 2``
    (at least 1), so no ball holds more than half of the other real rows: with ``k = N - 1``
    every ball would span the whole set and one central point would cover it all. ``nan`` with
    fewer than two real rows; 0 with no generated rows.
    """
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    n = real.shape[0]
    if n < 2:
        return float("nan")
    if generated.shape[0] == 0:
        return 0.0
    k = max(1, min(int(k), (n - 1) // 2))
    within = _pairwise(real, real)
    radius = np.sort(within, axis=1)[:, k]  # column 0 is the point itself
    nearest = _pairwise(real, generated).min(axis=1)
    # strictly inside, as the authors' code has it (clovaai/generative-evaluation-prdc)
    return float((nearest < radius).mean())


def coverage_per_class(
    real: np.ndarray,
    real_labels: np.ndarray,
    generated: np.ndarray,
    generated_labels: np.ndarray,
    k: int = 5,
) -> tuple[float, dict[int, float]]:
    """:func:`coverage` of each real class by the generated rows of that class, and the mean over
    classes. Returns ``(mean, {label: coverage})``; a class no generated row claims scores 0 (a
    dropped mode), a class with fewer than two real rows ``nan`` (left out of the mean)."""
    real, generated = np.asarray(real, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    real_labels, generated_labels = np.asarray(real_labels), np.asarray(generated_labels)
    per_class = {
        c: coverage(real[real_labels == c], generated[generated_labels == c], k)
        for c in _by_class(real_labels)
    }
    finite = [v for v in per_class.values() if np.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), per_class


class ClipClassifier:
    """A small MLP on :func:`clip_embeddings`, trained full-batch with Adam on CPU in seconds.

    Inputs are standardised with the training set's statistics, which also serve as the common
    scale of :func:`diversity` (so every set is measured with the same ruler).
    """

    def __init__(
        self,
        num_classes: int,
        hidden: int = 128,
        steps: int = 300,
        lr: float = 3e-3,
        weight_decay: float = 1e-3,
        seed: int = 0,
    ) -> None:
        self.num_classes, self.hidden, self.steps = int(num_classes), int(hidden), int(steps)
        self.lr, self.weight_decay, self.seed = lr, weight_decay, seed
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.model: nn.Module | None = None

    def standardise(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings in the training set's standard scale."""
        if self.mean is None or self.std is None:
            raise RuntimeError("ClipClassifier used before fit")
        return (np.asarray(embeddings, np.float64) - self.mean) / self.std

    def fit(self, embeddings: np.ndarray, labels: np.ndarray) -> ClipClassifier:
        """Train on ``(N, D)`` embeddings with int labels ``(N,)`` in ``[0, num_classes)``."""
        x = np.asarray(embeddings, np.float64)
        y = np.asarray(labels, np.int64)
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        generator = torch.Generator().manual_seed(self.seed)
        model = nn.Sequential(
            nn.Linear(x.shape[1], self.hidden), nn.GELU(), nn.Linear(self.hidden, self.num_classes)
        )
        with torch.no_grad():  # seeded init independent of the global torch RNG
            for param in model.parameters():
                bound = 1.0 / np.sqrt(param.shape[-1])
                param.copy_(torch.empty_like(param).uniform_(-bound, bound, generator=generator))
        inputs = torch.as_tensor(self.standardise(x), dtype=torch.float32)
        targets = torch.as_tensor(y)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        with one_thread():
            self._train(model, optimiser, inputs, targets, generator)
        self.model = model.eval()
        return self

    def _train(
        self,
        model: nn.Sequential,
        optimiser: torch.optim.Optimizer,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator,
    ) -> None:
        for _ in range(self.steps):
            # dropout (p=0.2) with masks from our own generator, so training is reproducible
            hidden = model[1](model[0](inputs))
            keep = (torch.rand(hidden.shape, generator=generator) > 0.2).float() / 0.8
            loss = nn.functional.cross_entropy(model[2](hidden * keep), targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, num_classes)``."""
        if self.model is None:
            raise RuntimeError("ClipClassifier used before fit")
        with torch.no_grad(), one_thread():
            logits = self.model(torch.as_tensor(self.standardise(embeddings), dtype=torch.float32))
        return torch.softmax(logits, dim=-1).double().numpy()

    def accuracy(self, embeddings: np.ndarray, labels: np.ndarray) -> float:
        """Fraction of ``embeddings`` classified as ``labels``."""
        return float((self.predict_proba(embeddings).argmax(1) == np.asarray(labels)).mean())


def inception_score(probabilities: np.ndarray) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities ``(N, C)``; 1 = no information, C = best."""
    p = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


# --------------------------------------------------------------------------- level and temporal statistics


def active_rms(audio: np.ndarray, frame: int = 320) -> float:
    """RMS of the loudest half of ``frame``-sample frames: a level that trailing silence does not sink."""
    audio = np.asarray(audio, dtype=np.float64)
    n = max(1, len(audio) // frame)
    power = np.array([np.mean(c**2) for c in np.array_split(audio, n)]) if len(audio) else np.zeros(1)
    loud = np.sort(power)[len(power) // 2 :]
    return float(np.sqrt(loud.mean()))


def lag_correlation(sequences: Sequence[np.ndarray], lag: int) -> float:
    """Mean over bins of the correlation between frames ``t`` and ``t + lag``, each clip's own mean
    removed (so differences between clips or classes do not pass for temporal structure)."""
    centred = [
        np.asarray(s, np.float64) - np.asarray(s, np.float64).mean(0) for s in sequences if len(s) > lag
    ]
    a = [s[:-lag] for s in centred]
    b = [s[lag:] for s in centred]
    if not a:
        return float("nan")
    x, y = np.concatenate(a), np.concatenate(b)
    denom = np.sqrt((x * x).sum(0) * (y * y).sum(0))
    return float(np.mean((x * y).sum(0) / np.where(denom > 0, denom, np.inf)))


# --------------------------------------------------------------------------- reference model


def gaussian_frame_model(
    real_sequences: Sequence[np.ndarray], lengths: Sequence[int], seed: int = 0
) -> list[np.ndarray]:
    """Sequences of the given ``lengths`` whose frames are drawn i.i.d. from N(mean, cov) of the
    real frames: right spectral colour, no temporal structure (the reference a GAN must beat)."""
    mean, cov = gaussian_stats(frame_vectors(real_sequences))
    rng = np.random.default_rng(seed)
    root = _sqrt_psd(cov)
    return [(mean + rng.standard_normal((int(n), mean.shape[0])) @ root).astype(np.float32) for n in lengths]
