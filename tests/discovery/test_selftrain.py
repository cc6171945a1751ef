"""Self-training: the core of each cluster, and what the fingerprint is fine-tuned on."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from synthtrace.discovery.selftrain import core_mask, self_train
from synthtrace.errors import InputError


def test_core_mask_keeps_the_members_nearest_each_mean():
    X = np.array([[0.0], [1.0], [2.0], [4.0], [10.0], [11.0], [30.0], [5.0]])
    labels = np.array([0, 0, 0, 0, 1, 1, 2, -1])
    # cluster 0: mean 1.75, distances 1.75, 0.75, 0.25, 2.25 -> the half nearest: rows 2 and 1
    # cluster 1: mean 10.5, both at 0.5 -> ceil(0.5 * 2) = 1, the first (stable order)
    # cluster 2: one member, always kept; row 7 is unclustered and never in the core
    np.testing.assert_array_equal(core_mask(X, labels, 0.5), [False, True, True, False, True, False, True, False])
    np.testing.assert_array_equal(core_mask(X, labels, 1.0), labels >= 0)
    assert core_mask(X, labels, 0.25).sum() == 3  # at least one per cluster
    with pytest.raises(InputError, match="share"):
        core_mask(X, labels, 0.0)
    with pytest.raises(InputError, match="one label per row"):
        core_mask(X, labels[:3], 0.5)


class SpyFingerprint:
    """Records what ``adapt`` was given (the real method is tested with the fingerprint)."""

    def adapt(self, images, labels, *, epochs, lr, augment, progress):
        self.got = SimpleNamespace(images=list(images), labels=list(labels), epochs=epochs, lr=lr, augment=augment)
        return "adapted"


def test_self_train_fine_tunes_on_the_known_images_plus_each_clusters_core():
    X = np.array([[0.0], [0.1], [3.0], [9.0], [9.2], [20.0]])
    run = SimpleNamespace(labels_=np.array([0, 0, 0, 1, 1, -1]), label_names_=["gan-s0", "new-0"])
    images = [np.full((2, 2, 3), i, dtype=np.uint8) for i in range(6)]
    known = [np.zeros((2, 2, 3), np.uint8)] * 2
    spy = SpyFingerprint()
    out, keep = self_train(spy, known, ["gan-s0", "gan-s1"], images, run, X, share=0.5, epochs=7, lr=0.01, augment=0.8)
    assert out == "adapted"
    np.testing.assert_array_equal(keep, [True, True, False, True, False, False])  # 2 of 3, 1 of 2, none unclustered
    assert spy.got.labels == ["gan-s0", "gan-s1", "gan-s0", "gan-s0", "new-0"]
    assert [int(im[0, 0, 0]) for im in spy.got.images[2:]] == [0, 1, 3]
    assert (spy.got.epochs, spy.got.lr, spy.got.augment) == (7, 0.01, 0.8)
    with pytest.raises(InputError, match="6 samples"):
        self_train(spy, known, ["a", "b"], images[:5], run, X)
