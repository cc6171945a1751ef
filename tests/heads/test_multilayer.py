"""The AdaptCLIP-style multi-layer head: shapes, learning, bundle round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthtrace.errors import InputError
from synthtrace.heads.multilayer import MultiLayerClassifier, MultiLayerConfig, MultiLayerHead


@pytest.fixture(scope="module")
def clip_tiny(tmp_path_factory):
    from synthtrace.backbones.tiny import save_tiny_model

    return save_tiny_model("clip", tmp_path_factory.mktemp("tiny") / "clip")


def _toy(n=64, L=3, T=5, D=8, seed=0):
    """Fakes carry +3 on feature 0 of every patch token; keys are noise."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, L, T, D)).astype(np.float32)
    A = rng.normal(size=(n, L, T, D)).astype(np.float32)
    y = np.arange(n) % 2
    P[y == 1, :, :, 0] += 3.0
    return P, A, y


def test_forward_shapes_and_layer_check():
    head = MultiLayerHead(MultiLayerConfig(num_layers=3, dim=8, heads=2, adapter_dim=4))
    logits = head(torch.randn(4, 3, 5, 8), torch.randn(4, 3, 5, 8))
    assert logits.shape == (4, 2)
    with pytest.raises(InputError, match="3 layers"):
        head(torch.randn(4, 2, 5, 8), torch.randn(4, 2, 5, 8))


def test_learns_a_separable_toy_task():
    P, A, y = _toy()
    clf = MultiLayerClassifier(MultiLayerConfig(epochs=20, batch_size=16, adapter_dim=8)).fit(P, A, y)
    Pt, At, yt = _toy(seed=1)
    s = clf.decision_function(Pt, At)
    assert s.shape == (64,)
    from synthtrace.metrics.detection import roc_auc

    assert roc_auc(yt, s) > 0.95
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def test_state_round_trip_is_identical():
    P, A, y = _toy(n=16)
    clf = MultiLayerClassifier(MultiLayerConfig(epochs=2)).fit(P, A, y)
    again = MultiLayerClassifier.from_state(clf.get_params(), clf.state_dict())
    np.testing.assert_array_equal(clf.decision_function(P, A), again.decision_function(P, A))


def test_bundle_round_trip_gives_identical_scores(tmp_path, clip_tiny):
    from synthtrace.backbones import create_backbone
    from synthtrace.detector import DetectorBundle
    from synthtrace.features.layers import layer_tokens
    from synthtrace.heads.calibration import fit_calibration

    bb = create_backbone(f"hf:{clip_tiny}")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(6)]
    P, A = layer_tokens(bb, torch.from_numpy(np.stack([bb.preprocess(im) for im in images])))
    assert P.shape == A.shape == (6, bb.num_layers, 16, 32)  # 32 px / patch 8 → 16 patches, CLS dropped
    y = np.array([0, 1, 0, 1, 0, 1])
    clf = MultiLayerClassifier(MultiLayerConfig(epochs=2)).fit(P.numpy(), A.numpy(), y)
    scores = clf.decision_function(P, A)
    bundle = DetectorBundle(
        kind="multilayer", backbone={"id": bb.id, "weights_hash": bb.weights_hash(), "layer": "all", "pooling": "patch_tokens+keys"},
        preprocess=bb.preprocess.to_dict(), head={"type": "multilayer", "params": clf.get_params()},
        calibration=fit_calibration(y, scores), model=clf,
    )
    bundle.save_pretrained(tmp_path / "b")
    loaded = DetectorBundle.from_pretrained(tmp_path / "b")
    assert loaded.kind == "multilayer" and loaded.head["params"]["num_layers"] == bb.num_layers
    np.testing.assert_array_equal(bundle.score_images(images), loaded.score_images(images))
    np.testing.assert_allclose(loaded.score_images(images), scores, atol=1e-5)
