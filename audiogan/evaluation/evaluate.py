"""``audiogan evaluate``: how close generated audio is to a real folder, with two references beside it.

Every set is measured the same way against a *reference* half of the real folder:

* ``real`` - the other half of the real folder (the floor: what sampling noise alone gives);
* ``generated`` - clips from the run (vocoded audio, or ``--generated DIR``);
* ``gaussian`` - frames drawn i.i.d. from a Gaussian fitted to the reference frames (per class
  when labelled): right spectral colour, no temporal structure. A model must beat it on the
  window distance to have learnt anything about time.

Features are the run's own normalised log-mel (its FeatureConfig and statistics), computed from
audio for real and generated clips alike. Levels are matched first (``level="rms"``): every
clip is scaled so its *active* RMS (the loudest half of its frames) equals the reference
median, because a gain change alone would otherwise dominate every distance.
``mel_space="generator"`` instead takes the generator's own frames before the vocoder (no level
matching is possible there, so real clips are used at their recorded level too); the gap
between the two spaces is what the vocoder loses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiogan.config import FeatureConfig
from audiogan.data.audio import AUDIO_EXTENSIONS, load_audio
from audiogan.errors import ConfigError, DataError
from audiogan.evaluation import metrics
from audiogan.evaluation.clips import clip_scores
from audiogan.features import MelFrontEnd
from audiogan.runtime import one_thread

if TYPE_CHECKING:
    from audiogan.generation.synthesizer import Synthesizer

__all__ = [
    "FORMAT",
    "EvalSet",
    "evaluate",
    "format_table",
    "load_real",
    "write_plot",
]

FORMAT = "audiogan-evaluation"
CANDIDATES = ("generated", "real", "gaussian")
#: Neighbours that set each real clip's ball in the coverage measure (Naeem et al. use k=5).
COVERAGE_K = 5
COLLAPSE_KEYS = (
    "diversity_within",
    "diversity_within_ratio",
    "diversity_within_per_class",
    "coverage",
    "coverage_per_class",
)


class EvalSet:
    """Clips as normalised feature sequences ``(T_i, M)`` with int labels (-1 = unlabelled)."""

    def __init__(
        self, sequences: list[np.ndarray], labels: Sequence[int], durations: Sequence[float] = ()
    ) -> None:
        self.sequences = sequences
        self.labels = np.asarray(labels, dtype=np.int64)
        self.durations = np.asarray(durations, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, index: np.ndarray) -> EvalSet:
        """The clips at ``index``."""
        durations = self.durations[index] if len(self.durations) else ()
        return EvalSet([self.sequences[i] for i in index], self.labels[index], durations)


# --------------------------------------------------------------------------- audio -> features


class FeatureMaker:
    """Waveforms -> normalised log-mel ``(T, M)`` in the run's scale, optionally level-matched."""

    def __init__(self, feature_config: FeatureConfig, level: str = "rms") -> None:
        if level not in ("rms", "none"):
            raise ConfigError(f"level={level!r}: expected 'rms' or 'none'")
        self.front = MelFrontEnd(feature_config)
        self.level = level
        self.target: float | None = None  # active RMS every clip is scaled to; set from the reference

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features of one clip ``(S,)`` -> ``(T, M)`` float32."""
        audio = np.asarray(audio, dtype=np.float32)
        if self.level == "rms" and self.target is not None:
            current = metrics.active_rms(audio)
            if current > 1e-8:  # digital silence stays silence
                audio = audio * np.float32(self.target / current)
        with torch.no_grad(), one_thread():  # one clip is too small to split across threads
            return self.front.features(torch.from_numpy(audio))[0].numpy()


def _load(path: Path, sample_rate: int) -> np.ndarray:
    """Decode and resample one file on one torch thread (resampling a short clip is a small conv)."""
    with one_thread():
        return load_audio(path, sample_rate)


def _scan(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def _label_of(path: Path, root: Path, class_names: list[str]) -> int:
    """Class from the first-level folder (``DIR/<label>/x.wav``), or a file-name prefix: ``<label>_``,
    ``<label>-``, or ``label-<label>_`` as ``audiogan generate`` names its files."""
    from audiogan.generation.generate import safe_name

    rel = path.relative_to(root)
    if len(rel.parts) > 1 and rel.parts[0] in class_names:
        return class_names.index(rel.parts[0])
    for name in sorted(class_names, key=len, reverse=True):  # longest first: "10" before "1"
        if rel.name.startswith((f"{name}_", f"{name}-", f"label-{name}_", f"label-{safe_name(name)}_")):
            return class_names.index(name)
    return -1


def load_real(
    data_dir: str | Path, sample_rate: int
) -> tuple[list[np.ndarray], np.ndarray, list[str], list[tuple[str, str]]]:
    """Audio of a real folder at ``sample_rate``: ``(clips, labels, class_names, skipped)``.

    The folder is scanned exactly as training scans it (:func:`audiogan.data.cache.scan_folder`:
    labels from first-level subfolders, hidden files ignored); unreadable files and clips
    shorter than training's minimum are skipped with reasons.
    """
    from audiogan.data.cache import REASON_TOO_SHORT, scan_folder
    from audiogan.data.dataset import DEFAULT_MIN_SECONDS

    scan = scan_folder(data_dir)
    class_names = sorted({c.label for c in scan.candidates if c.label is not None})
    clips, labels, skipped = [], [], list(scan.skipped)
    for cand in scan.candidates:
        try:
            clip = _load(scan.root / cand.rel, sample_rate)
        except DataError as exc:
            skipped.append((cand.rel, str(exc)))
            continue
        if len(clip) < DEFAULT_MIN_SECONDS * sample_rate:
            skipped.append((cand.rel, REASON_TOO_SHORT))
            continue
        clips.append(clip)
        labels.append(class_names.index(cand.label) if cand.label is not None else -1)
    if len(clips) < 4:
        raise DataError(f"{data_dir}: need at least 4 readable audio files to evaluate, found {len(clips)}")
    return clips, np.asarray(labels, np.int64), class_names, skipped


def _split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified halves ``(reference, held_out)`` of clip indices."""
    rng = np.random.default_rng(seed)
    ref, held = [], []
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        cut = (len(index) + 1) // 2
        ref.extend(index[:cut])
        held.extend(index[cut:])
    return np.sort(np.asarray(ref, np.int64)), np.sort(np.asarray(held, np.int64))


# --------------------------------------------------------------------------- generated sets


def _run_info(run: Any) -> tuple[FeatureConfig, list[str], Any]:
    """``(feature_config, class_names, synthesizer_or_None)`` from a run folder/file or an object."""
    if isinstance(run, (str, Path)):
        from audiogan.checkpoint import load_checkpoint

        path = Path(run) / "generator.pt" if Path(run).is_dir() else Path(run)
        data = load_checkpoint(path, kind="generator")
        return FeatureConfig.from_dict(data["feature_config"]), [str(c) for c in data["class_names"]], None
    return run.feature_config, list(getattr(run, "class_names", []) or []), run


def _seeds(counts: dict[int, int], seed: int) -> dict[int, int]:
    """First clip seed of each label: consecutive blocks, so no two clips share a latent."""
    out, next_seed = {}, seed * 1_000_003  # a new --seed gives a disjoint block of clip seeds
    for label, n in counts.items():
        out[label] = next_seed
        next_seed += max(n, 0)
    return out


def _generate(
    synth: Synthesizer,
    counts: dict[int, int],
    seconds: dict[int, float],
    seed: int,
    mel_space: str,
    maker: FeatureMaker,
    names: Sequence[str] = (),
) -> EvalSet:
    """Generated clips label by label as features: vocoded audio through ``maker``, or (with
    ``mel_space="generator"``) the generator's own frames before the vocoder."""
    sequences, labels = [], []
    for label, first_seed in _seeds(counts, seed).items():
        n = counts[label]
        if n <= 0:
            continue
        # by name where the data has classes: the run may order them differently or have more
        wanted = None if label < 0 else [names[label] if names else label] * n
        whole = getattr(synth, "sound", None) is not None  # a whole-sound run: its learned lengths
        if mel_space == "generator":
            n_frames = _n_frames(seconds[label], maker.front.feature_config)
            requests = synth.requests(n, wanted, seed=first_seed)
            sequences.extend(
                (synth.whole_frames(r) if whole else synth.frames(r, n_frames)).float().cpu().numpy()
                for r in requests
            )
        else:
            clips = synth.generate(n, None if whole else seconds[label], labels=wanted, seed=first_seed)
            sequences.extend(maker(np.asarray(c, dtype=np.float32).reshape(-1)) for c in clips)
        labels.extend([label] * n)
    return EvalSet(sequences, labels)


def _n_frames(seconds: float, fc: FeatureConfig) -> int:
    """Frames the front end makes from ``seconds`` of audio (the real clips' own count)."""
    from audiogan.features import samples_to_frames

    return samples_to_frames(int(round(seconds * fc.sample_rate)), fc)


# --------------------------------------------------------------------------- scoring


class Scorer:
    """Everything fitted on the reference half once; :meth:`score` measures one candidate set.

    Two collapse measures look inside each class, where pooled diversity cannot see: within-class
    diversity (mean pairwise distance of the classifier's clip descriptors among clips of one
    class, averaged over classes) and coverage (Naeem et al., 2020; on :func:`metrics.clip_statistics`,
    a feature no fit shapes): the fraction of reference clips of a class whose k-NN ball among
    the reference holds a candidate clip of that class.
    """

    def __init__(
        self,
        reference: EvalSet,
        num_classes: int,
        k: int,
        pca_dim: int,
        ndb_bins: int,
        seed: int,
        class_names: Sequence[str] = (),
        coverage_k: int = COVERAGE_K,
        feature_config: FeatureConfig | None = None,
    ):
        self.k, self.seed, self.coverage_k = k, seed, coverage_k
        self.feature_config = feature_config  # for clip lengths (frames -> level, seconds)
        self.reference_sequences = reference.sequences
        self.class_names = list(class_names)
        try:
            self.fd = metrics.WindowFD(reference.sequences, k=k, pca_dim=pca_dim)
        except ValueError:
            raise ConfigError(
                f"--window {k}: the real clips are too short for windows of {k} frames"
            ) from None
        # NDB on non-overlapping windows: overlapping ones would count each frame k times and
        # make the proportion test see far more independent samples than there are
        self.ref_windows = self.fd.project(reference.sequences, hop=k)
        self.bins = int(min(ndb_bins, max(2, len(self.ref_windows) // 10)))
        enough = len(self.ref_windows) >= self.bins
        self.centroids = metrics.kmeans(self.ref_windows, self.bins, seed=seed)[0] if enough else None
        embeddings = metrics.clip_embeddings(reference.sequences)
        self.classifier = None
        if num_classes >= 2 and (reference.labels >= 0).all():
            self.classifier = metrics.ClipClassifier(num_classes, seed=seed).fit(embeddings, reference.labels)
            self.ruler = self.classifier.standardise
        else:
            mean, std = embeddings.mean(0), embeddings.std(0) + 1e-6
            self.ruler = lambda e: (e - mean) / std
        self.reference_diversity = metrics.diversity(self.ruler(embeddings), seed=seed)
        self.labelled = bool((reference.labels >= 0).any())
        self.reference_labels = reference.labels
        self.reference_within, within = metrics.diversity_within(
            self.ruler(embeddings), reference.labels, seed=seed
        )
        self.reference_within_per_class = self._named(within)
        self.reference_statistics = metrics.clip_statistics(reference.sequences)

    def _named(self, per_class: dict[int, float]) -> dict[str, float]:
        """``{label index: value}`` -> ``{class name: value}`` (``"unlabelled"`` for -1)."""
        names = self.class_names
        return {
            (names[c] if 0 <= c < len(names) else "unlabelled" if c < 0 else str(c)): v
            for c, v in per_class.items()
        }

    def collapse(self, candidate: EvalSet, embeddings: np.ndarray) -> dict[str, Any]:
        """Within-class diversity (and its ratio to the reference half's) and coverage, per class and
        averaged; ``None`` where the reference is labelled but the candidate's clips are not."""
        keep = candidate.labels >= 0 if self.labelled else np.ones(len(candidate), dtype=bool)
        if not keep.any():
            return dict.fromkeys(COLLAPSE_KEYS)
        labels = candidate.labels[keep]
        within, within_per_class = metrics.diversity_within(
            self.ruler(embeddings[keep]), labels, seed=self.seed
        )
        statistics = metrics.clip_statistics([s for s, kept in zip(candidate.sequences, keep) if kept])
        cover, cover_per_class = metrics.coverage_per_class(
            self.reference_statistics, self.reference_labels, statistics, labels, k=self.coverage_k
        )
        return {
            "diversity_within": within,
            "diversity_within_ratio": within / self.reference_within if self.reference_within > 0 else None,
            "diversity_within_per_class": self._named(within_per_class),
            "coverage": cover,
            "coverage_per_class": self._named(cover_per_class),
        }

    def score(self, candidate: EvalSet) -> dict[str, Any]:
        """All metrics of ``candidate`` against the reference (``None`` where not applicable)."""
        out: dict[str, Any] = {"clips": len(candidate)}
        try:
            out.update(self.fd.scores(candidate.sequences))
        except ValueError:
            raise ConfigError(f"--window {self.k}: clips too short for windows of {self.k} frames") from None
        windows = self.fd.project(candidate.sequences, hop=self.k)
        if self.centroids is not None and len(windows):
            result = metrics.ndb(self.ref_windows, windows, centroids=self.centroids)
            out.update(ndb=result.ndb, ndb_bins=result.bins, ndb_k=result.ndb_k, ndb_js=result.js)
        else:
            out.update(ndb=None, ndb_bins=None, ndb_k=None, ndb_js=None)
        embeddings = metrics.clip_embeddings(candidate.sequences)
        out["diversity"] = metrics.diversity(self.ruler(embeddings), seed=self.seed)
        out["diversity_ratio"] = out["diversity"] / self.reference_diversity
        out.update(self.collapse(candidate, embeddings))
        out.update(length_mean=None, length_w1=None, clip_fd=None)
        if self.feature_config is not None and self.feature_config.has_stats:
            out.update(clip_scores(self.reference_sequences, candidate.sequences, self.feature_config))
        out["accuracy"] = out["inception_score"] = None
        if self.classifier is not None:
            probs = self.classifier.predict_proba(embeddings)
            out["inception_score"] = metrics.inception_score(probs)
            known = candidate.labels >= 0
            if known.any():
                out["accuracy"] = float((probs[known].argmax(1) == candidate.labels[known]).mean())
        return out


def evaluate(
    run_or_generator: Any,
    data_dir: str | Path,
    n_per_label: int | None = None,
    generated_dir: str | Path | None = None,
    k: int = 8,
    seed: int = 0,
    pca_dim: int = 64,
    ndb_bins: int = 20,
    level: str = "rms",
    mel_space: str = "audio",
    plot: str | Path | None = None,
    vocoder: str | Path | None = None,
    plugins: Sequence[str] = (),
    device: str | None = None,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Compare a run's output with a real folder; returns the JSON-ready result (see ``format_table``).

    :param run_or_generator: a run folder, a ``generator.pt`` path, or a loaded synthesizer
        (``feature_config``, ``class_names``, ``generate(n, seconds, labels=, seed=)``); ``None``
        with ``generated_dir`` compares any audio folder using statistics of the real data.
    :param n_per_label: clips generated per label; default: as many as the held-out real half has.
    :param generated_dir: score these audio files instead of generating (labels from subfolders
        or ``<label>_`` prefixes).
    :param k: window length in frames for the window distance and NDB.
    :param level: ``"rms"`` matches every clip's active RMS to the reference median; ``"none"``.
    :param mel_space: ``"audio"`` (vocoded audio through the front end) or ``"generator"``.
    :param plot: write a PNG comparing mel statistics here.
    :param vocoder: / :param plugins: / :param device: / :param checkpoint: passed to
        :func:`audiogan.load` (the default vocoder is the run's own ``vocoder.pt`` when it has one,
        else Griffin-Lim; the default generator its ``generator.pt``, ``checkpoint="best"`` the EMA
        generator of ``checkpoints/best.pt``).
    """
    if mel_space not in ("audio", "generator"):
        raise ConfigError(f"mel_space={mel_space!r}: expected 'audio' or 'generator'")
    if k < 1:
        raise ConfigError(f"--window {k}: must be >= 1")
    if run_or_generator is None and generated_dir is None:
        raise ConfigError("evaluate needs a run or --generated DIR")
    if mel_space == "generator":
        if generated_dir is not None:
            raise ConfigError("mel_space='generator' needs a run, not --generated audio")
        level = "none"  # the generator's frames carry the training level; compare like with like
    if checkpoint is not None:
        if not isinstance(run_or_generator, (str, Path)) or generated_dir is not None:
            raise ConfigError("a checkpoint needs a run folder to generate from (not --generated audio)")
        from audiogan.generation.generate import load

        run_or_generator = str(run_or_generator)
        fc, run_classes, synth = _run_info(
            load(run_or_generator, vocoder=vocoder, plugins=plugins, device=device, checkpoint=checkpoint)
        )
    elif run_or_generator is not None:
        fc, run_classes, synth = _run_info(run_or_generator)
    else:
        fc, run_classes, synth = None, [], None
    sample_rate = fc.sample_rate if fc is not None else FeatureConfig().sample_rate
    audio, labels, class_names, skipped = load_real(data_dir, sample_rate)
    if fc is None:  # no run: statistics of the real folder itself define the scale
        fc = _stats_config(audio, sample_rate)
    missing = sorted(set(class_names) - set(run_classes)) if run_classes else []
    if missing:
        raise ConfigError(f"{data_dir}: classes {missing} are not among the run's classes {run_classes}")
    ref_index, held_index = _split(labels, seed)
    maker = FeatureMaker(fc, level)
    maker.target = float(np.median([metrics.active_rms(audio[i]) for i in ref_index]))
    durations = [len(a) / sample_rate for a in audio]
    real = EvalSet([maker(a) for a in audio], labels, durations)
    reference, held_out = real.subset(ref_index), real.subset(held_index)

    # generated set: sizes and lengths follow the held-out half, label by label
    if run_classes and class_names:  # conditional run, labelled data: follow each label
        counts = {
            lab: n_per_label if n_per_label is not None else int((held_out.labels == lab).sum())
            for lab in range(len(class_names))
        }
    elif run_classes:  # conditional run, unlabelled data: spread over the run's labels, score unlabelled
        share = n_per_label if n_per_label is not None else -(-len(held_out) // len(run_classes))
        counts = {lab: share for lab in range(len(run_classes))}
    else:
        counts = {-1: n_per_label if n_per_label is not None else len(held_out)}
    seconds = {
        lab: float(
            np.median(
                reference.durations[reference.labels == lab]
                if lab >= 0 and class_names
                else reference.durations
            )
        )
        for lab in counts
    }
    if generated_dir is not None:
        gen_root = Path(generated_dir)
        files = _scan(gen_root) if gen_root.is_dir() else []
        if not files:
            raise DataError(f"{gen_root}: no audio files to evaluate")
        generated = EvalSet(
            [maker(_load(f, sample_rate)) for f in files],
            [_label_of(f, gen_root, class_names) for f in files],
        )
    else:
        if synth is None:
            from audiogan.generation.generate import load

            synth = load(run_or_generator, vocoder=vocoder, plugins=plugins, device=device)
        generated = _generate(synth, counts, seconds, seed, mel_space, maker, class_names)
    if not class_names:
        generated.labels[:] = -1  # the run's labels mean nothing to an unlabelled real folder

    # the i.i.d. reference: per class when labelled, lengths and labels as the held-out half
    gauss_sequences = [np.zeros(0)] * len(held_out)
    for lab in np.unique(held_out.labels):
        source = [s for s, label in zip(reference.sequences, reference.labels) if label == lab]
        index = np.flatnonzero(held_out.labels == lab)
        drawn = metrics.gaussian_frame_model(
            source, [len(held_out.sequences[i]) for i in index], seed=seed + int(lab) + 1
        )
        for i, seq in zip(index, drawn):
            gauss_sequences[i] = seq
    gaussian = EvalSet(gauss_sequences, held_out.labels)

    scorer = Scorer(reference, len(class_names), k, pca_dim, ndb_bins, seed, class_names, feature_config=fc)
    sets = {"generated": generated, "real": held_out, "gaussian": gaussian}
    result = {
        "format": FORMAT,
        "format_version": 1,
        "run": str(run_or_generator) if isinstance(run_or_generator, (str, Path)) else None,
        "data": str(data_dir),
        "generated_dir": str(generated_dir) if generated_dir is not None else None,
        "settings": {
            "window": k,
            "pca_dim": pca_dim,
            "ndb_bins": scorer.bins,
            "seed": seed,
            "level": level,
            "mel_space": mel_space,
            "n_per_label": n_per_label,
            "vocoder": getattr(synth, "vocoder_name", None) if generated_dir is None else None,
            "coverage_k": scorer.coverage_k,
            "checkpoint": getattr(synth, "meta", {}).get("checkpoint") if generated_dir is None else None,
        },
        "class_names": class_names,
        "reference": {
            "clips": len(reference),
            "diversity": scorer.reference_diversity,
            "diversity_within": scorer.reference_within,
            "diversity_within_per_class": scorer.reference_within_per_class,
            "pca_dim": int(scorer.fd.pca.components.shape[0]) if scorer.fd.pca is not None else k * fc.n_mels,
            "skipped": [list(s) for s in skipped],
        },
        "results": {name: scorer.score(s) for name, s in sets.items()},
    }
    result = _clean(result)
    if plot is not None:
        write_plot(
            plot, {"real": real.sequences, "generated": generated.sequences, "gaussian": gauss_sequences}, k
        )
    return result


def _clean(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers, NaN/inf to ``None``."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _stats_config(audio: list[np.ndarray], sample_rate: int) -> FeatureConfig:
    """A default FeatureConfig at ``sample_rate`` with per-bin statistics of ``audio`` (no run given)."""
    fc = FeatureConfig(sample_rate=sample_rate)
    front = MelFrontEnd(fc)
    with torch.no_grad():
        frames = np.concatenate(
            [front.log_mel(torch.from_numpy(np.asarray(a, np.float32)))[0].numpy() for a in audio]
        )
    fc.mel_mean = frames.mean(0).tolist()
    fc.mel_std = np.maximum(frames.std(0), 1e-3).tolist()
    return fc


# --------------------------------------------------------------------------- reporting

ROWS = (
    ("window FD (headline)", "window_fd", "{:.3f}"),
    ("frame FD", "frame_fd", "{:.3f}"),
    ("NDB/K", "ndb_k", "{:.2f}"),
    ("NDB JS divergence", "ndb_js", "{:.4f}"),
    ("class accuracy", "accuracy", "{:.1%}"),
    ("inception score", "inception_score", "{:.2f}"),
    ("pooled diversity / real", "diversity_ratio", "{:.2f}"),
    ("within-class diversity / real", "diversity_within_ratio", "{:.2f}"),
    ("coverage", "coverage", "{:.2f}"),
    ("non-silent length, mean s", "length_mean", "{:.3f}"),
    ("length W1 to reference, s", "length_w1", "{:.3f}"),
    ("clip FD (per-clip statistics)", "clip_fd", "{:.2f}"),
    ("clips", "clips", "{}"),
)
#: The columns of the table: result key, title.
COLUMNS = (("generated", "generated"), ("real", "real (floor)"), ("gaussian", "iid gaussian"))


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return fmt.format(value)


def per_class_rows(result: dict[str, Any]) -> list[tuple[str, list[float | None], list[float | None]]]:
    """``(class, within-class diversity / real per column, coverage per column)`` for each class
    of the result (columns as :data:`COLUMNS`); empty for results without per-class figures."""
    floor = (result.get("reference") or {}).get("diversity_within_per_class") or {}
    results = result.get("results") or {}
    names = list(floor) or sorted(
        {c for r in results.values() for c in ((r or {}).get("coverage_per_class") or {})}
    )
    rows = []
    for name in names:
        ratios, covers = [], []
        for key, _ in COLUMNS:
            scores = results.get(key) or {}
            within = (scores.get("diversity_within_per_class") or {}).get(name)
            ref = floor.get(name)
            ratios.append(within / ref if within is not None and ref else None)
            covers.append((scores.get("coverage_per_class") or {}).get(name))
        rows.append((str(name), ratios, covers))
    return rows


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per metric, columns generated | real (floor) | i.i.d. gaussian."""
    cols = COLUMNS
    s = result["settings"]
    lines = [
        f"reference: {result['reference']['clips']} real clips of {result['data']}; "
        f"window {s['window']} frames, "
        f"PCA {result['reference']['pca_dim']}, {s['ndb_bins']} NDB bins, level {s['level']}, "
        f"mel space {s['mel_space']}, coverage k={s.get('coverage_k', COVERAGE_K)}",
        f"{'metric':<30}" + "".join(f"{title:>15}" for _, title in cols),
    ]
    chosen = s.get("checkpoint")
    if chosen:  # not the run's generator.pt
        lines.insert(1, f"generator: {chosen.get('file')} (step {chosen.get('step')}, EMA)")
    for title, key, fmt in ROWS:
        cells = [_cell(result["results"][name].get(key), fmt) for name, _ in cols]
        lines.append(f"{title:<30}" + "".join(f"{c:>15}" for c in cells))
    rows = per_class_rows(result)
    if rows:
        short = ("gen", "real", "iid")
        width = max(12, *(len(name) + 1 for name, _, _ in rows))
        lines.append(f"{'per class':<{width}}{'within-class diversity / real':>30}   {'coverage':>24}")
        lines.append(
            f"{'':<{width}}" + "".join(f"{c:>10}" for c in short) + "   " + "".join(f"{c:>8}" for c in short)
        )
        for name, ratios, covers in rows:
            lines.append(
                f"{name:<{width}}"
                + "".join(f"{_cell(v, '{:.2f}'):>10}" for v in ratios)
                + "   "
                + "".join(f"{_cell(v, '{:.2f}'):>8}" for v in covers)
            )
    lines.append(
        "lower is better for FD, NDB and JS; the real column is the floor, "
        "iid gaussian has no temporal structure; a collapsed model has within-class diversity / real "
        "and coverage far below the floor"
    )
    return "\n".join(lines)


def write_plot(path: str | Path, sets: dict[str, Sequence[np.ndarray]], k: int) -> Path:
    """PNG: per-bin mean and std of frames, and frame-to-frame correlation by lag, for each set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiogan.fileio import atomic_path

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, seqs in sets.items():
        frames = metrics.frame_vectors(seqs)
        axes[0].plot(frames.mean(0), label=name)
        axes[1].plot(frames.std(0), label=name)
        lags = range(1, k + 1)
        axes[2].plot(list(lags), [metrics.lag_correlation(seqs, lag) for lag in lags], marker="o", label=name)
    for ax, title, xlabel in zip(
        axes,
        ("mean per mel bin", "std per mel bin", "frame correlation by lag"),
        ("mel bin", "mel bin", "lag (frames)"),
    ):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path
