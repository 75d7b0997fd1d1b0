"""The held-out slice: clips that training never samples, kept to judge the generator while it trains.

A GAN on a small budget can peak early and drift (and collapse), so the loop keeps the best
generator by a measure taken on clips the sampler never draws. The slice is a fixed, seeded,
class-stratified share of the folder, chosen by whole source files: a long take cut into events
(``data.split``) keeps all of its events on one side, so no event of a held-out file leaks into
training. Classes too small to spare clips give none; a folder with no slice at all is judged on
its training clips, and the run says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet

__all__ = ["MIN_CLASS_CLIPS", "holdout_indices"]

# A class with fewer usable clips than this gives none to the slice: it needs them all to train.
MIN_CLASS_CLIPS = 10


def holdout_indices(
    dataset: FeatureSet,
    fraction: float,
    max_clips: int,
    seed: int = 0,
    min_class_clips: int = MIN_CLASS_CLIPS,
) -> np.ndarray:
    """Sorted clip indices of ``dataset`` held out from training.

    Per class (the whole folder when unlabelled): about ``fraction`` of its clips, whole files at a
    time in a seeded order, and at most ``max_clips`` over all classes (shared equally). A class
    with fewer than ``min_class_clips`` clips, or whose every clip comes from one file, gives none.
    The choice depends only on the folder's files, labels and ``seed``, so a resumed run (or another
    process) holds out the same clips.
    """
    if fraction <= 0 or max_clips <= 0 or len(dataset) == 0:
        return np.zeros(0, dtype=np.int64)
    labels = np.asarray(dataset.labels) if dataset.num_classes else np.zeros(len(dataset), dtype=np.int64)
    classes = np.unique(labels)
    per_class_cap = max(1, max_clips // len(classes))
    files = np.asarray([str(f) for f in dataset.files])
    rng = np.random.default_rng([int(seed), 0x401D])
    chosen: list[np.ndarray] = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        names = np.unique(files[members])
        if members.size < min_class_clips or names.size < 2:
            continue
        want = min(per_class_cap, max(1, int(round(fraction * members.size))))
        taken: list[np.ndarray] = []
        count = 0
        for name in rng.permutation(names):
            if count >= want:
                break
            clips = members[files[members] == name]
            if count + clips.size > members.size - 1:  # the class keeps at least one clip to train on
                continue
            taken.append(clips)
            count += clips.size
        if taken:
            chosen.append(np.concatenate(taken))
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)
