"""Self-training: the learned fingerprint retrained on the clusters that discovery found.

Girish et al.'s loop (ICCV 2021) retrains its whole network on the known images plus the
clustered ones in every iteration, so its features learn to tell the new sources apart.
synthtrace's loop (``OpenWorldDiscovery``) trains a small network on fixed features; a
learned fingerprint (``synthtrace.heads.learned_fingerprint``) trained on the known
sources only has never had a reason to separate two sources it did not see, nor to keep
them apart once platform processing has blurred their traces. ``self_train`` puts the
convolutional network back into the loop: after a discovery run, the core of every
cluster (the members nearest its mean, the ones most likely to be right) becomes
pseudo-labelled training data, the fingerprint is fine-tuned on the known images plus
that core (``LearnedFingerprint.adapt``), and discovery runs again on the new features.
``synthtrace discover --features FP_DIR --self-train 1`` does this.

Two cores: ``core_mask`` (the half of each cluster nearest its mean) and ``stable_core``
(the members whose cluster-mates stay with them when the loop re-runs with other seeds:
evidence accumulation, Fred & Jain, TPAMI 2005). A re-run of the loop costs seconds, a
fine-tuning minutes, and wrong pseudo-labels are what fine-tuning learns worst from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthtrace.errors import InputError
from synthtrace.progress import progress_bar

__all__ = ["core_mask", "self_train", "stable_core"]


def core_mask(X: np.ndarray, labels: np.ndarray, share: float = 0.5) -> np.ndarray:
    """For every label >= 0, the ``share`` of its members nearest the label's mean in ``X``
    (at least one per label); unlabelled rows (−1) are never in the core."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise InputError(f"X must be 2-D with one label per row; got {X.shape} and {labels.shape}.")
    if not 0.0 < share <= 1.0:
        raise InputError(f"share={share!r}: the core is a share of each cluster, in (0, 1].")
    keep = np.zeros(labels.size, dtype=bool)
    for j in np.unique(labels[labels >= 0]):
        mem = np.flatnonzero(labels == j)
        dist = ((X[mem] - X[mem].mean(axis=0)) ** 2).sum(axis=1)
        n = max(1, int(np.ceil(share * mem.size)))
        keep[mem[np.argsort(dist, kind="stable")[:n]]] = True
    return keep


def stable_core(discovery: Any, X_known: Any, y_known: Any, X: Any, *, runs: int = 4,
                agreement: float = 0.6, progress: bool = False) -> np.ndarray:
    """Clustered samples of ``discovery`` (a fitted ``OpenWorldDiscovery`` on ``X_known``,
    ``y_known``, ``X``) that its clustering does not owe to chance: the loop is re-run
    ``runs`` times with other seeds (derived from its own), and a sample scores, per re-run,
    the share of its cluster's members that are again in its cluster; kept when its mean
    score is at least ``agreement``. Linear in the number of samples (no co-association matrix)."""
    labels = np.asarray(discovery.labels_)
    if len(X) != labels.size:
        raise InputError(f"{len(X)} feature rows for a discovery run of {labels.size} samples.")
    if runs < 1 or not 0.0 < agreement <= 1.0:
        raise InputError(f"runs={runs!r}, agreement={agreement!r}: need runs >= 1 and agreement in (0, 1].")
    params = {**discovery.get_params(), "run_dir": None, "verbose": False}
    seeds = np.random.default_rng([int(params["random_state"]), 1]).integers(2**31, size=runs)
    clustered = labels >= 0
    size = np.bincount(labels[clustered])
    score = np.zeros(labels.size)
    with progress_bar(runs, "stable core (re-runs of the loop)", enabled=progress) as advance:
        for seed in seeds:
            other = type(discovery)(**{**params, "random_state": int(seed)}).fit(X_known, y_known, X).labels_
            both = clustered & (other >= 0)
            _, cell, count = np.unique(np.c_[labels[both], other[both]], axis=0, return_inverse=True,
                                       return_counts=True)
            score[both] += count[cell.ravel()] / size[labels[both]]
            advance(1)
    return clustered & (score / runs >= agreement)


def self_train(fingerprint: Any, known_images: Sequence[np.ndarray], known_labels: Sequence[Any],
               images: Sequence[np.ndarray], discovery: Any, X: np.ndarray, *, share: float = 0.5, epochs: int = 30,
               lr: float = 1e-3, augment: float | None = None, core: np.ndarray | None = None,
               progress: bool = True) -> tuple[Any, np.ndarray]:
    """Fine-tune ``fingerprint`` on the known images plus the core of each of ``discovery``'s
    labels (``images`` and ``X``, the features the run used, are in the run's order);
    ``augment``: the share of draws given processing (default: the fingerprint's own);
    ``core``: a boolean mask over ``images`` (e.g. ``stable_core``) instead of the
    ``share`` of each cluster nearest its mean.

    Returns the adapted fingerprint (its classes: the known sources and the discovered
    clusters' names) and the boolean core mask over ``images``."""
    labels = np.asarray(discovery.labels_)
    if len(images) != labels.size or len(X) != labels.size:
        raise InputError(f"{len(images)} images and {len(X)} feature rows for a discovery run of {labels.size} samples.")
    if core is None:
        keep = core_mask(X, labels, share)
    else:
        keep = np.asarray(core, dtype=bool)
        if keep.shape != labels.shape or np.any(labels[keep] < 0):
            raise InputError(f"core must be a boolean mask over the {labels.size} discovery samples, "
                             "marking clustered ones only.")
    names = [discovery.label_names_[j] for j in labels[keep]]
    idx = np.flatnonzero(keep)
    adapted = fingerprint.adapt(list(known_images) + [images[i] for i in idx], list(known_labels) + names,
                                epochs=epochs, lr=lr, augment=augment, progress=progress)
    return adapted, keep
