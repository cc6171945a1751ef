from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.domain_adaptation import (
    DAConfig,
    MultiSourceAdapter,
    domain_labels,
    entropy_loss,
    moment_discrepancy,
)
from synthtrace.io.manifest import ManifestRow


def _shifted(seed=0, n=120, d=6):
    """Two labelled sources and a target whose features are shifted along dim 2."""
    rng = np.random.default_rng(seed)
    X, y, dom = [], [], []
    for name, shift in (("a", 0.0), ("b", 0.3)):
        lab = rng.integers(0, 2, n)
        f = rng.normal(size=(n, d)) * 0.3
        f[:, 0] += np.where(lab == 1, 1.0, -1.0)
        f[:, 1] += shift + 1.0
        X.append(f)
        y.append(lab)
        dom += [name] * n
    lab_t = rng.integers(0, 2, n)
    t = rng.normal(size=(n, d)) * 0.3
    t[:, 0] += np.where(lab_t == 1, 1.0, -1.0)
    t[:, 1] += 1.0
    t[:, 2] += 2.0
    return np.concatenate(X), np.concatenate(y), dom, t, lab_t



pytestmark = pytest.mark.usefixtures("one_thread")

def test_moment_discrepancy_by_hand():
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # mean (1, 0), 2nd moment (2, 0)
    b = torch.tensor([[1.0, 1.0], [1.0, 1.0]])  # mean (1, 1), 2nd moment (1, 1)
    expected = 1.0 + np.sqrt(2.0)
    assert float(moment_discrepancy([a, b])) == pytest.approx(expected)
    assert float(moment_discrepancy([a, a, a])) == 0.0
    assert float(moment_discrepancy([a, b, a])) == pytest.approx(2 * expected / 3)


def test_entropy_loss_by_hand():
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    ys = torch.tensor([0, 1])
    tgt = torch.tensor([[0.0, 0.0], [5.0, 0.0]])  # undecided (log 2), and almost surely class 0
    p = torch.softmax(torch.tensor([5.0, 0.0]), 0)
    expected = (np.log(2) - float((p * p.log()).sum())) / 2
    assert float(entropy_loss(tgt, src, ys)) == pytest.approx(expected, rel=1e-5)


def test_fit_lowers_moment_discrepancy_and_folds_into_a_probe():
    X, y, dom, T, yt = _shifted()
    plain = MultiSourceAdapter(DAConfig(lambda_mm=0.0, lambda_ent=0.0, epochs=30, lr=1e-2)).fit(X, y, dom, T)
    da = MultiSourceAdapter(DAConfig(epochs=30, lr=1e-2)).fit(X, y, dom, T)
    assert da.history_[-1]["mm_all"] < da.history_[0]["mm_all"] * 0.8
    assert da.history_[-1]["mm_all"] < plain.history_[-1]["mm_all"]
    assert da.history_[-1]["ent"] < da.history_[1]["ent"]
    probe = da.to_linear_probe()
    np.testing.assert_allclose(probe.decision_function(T), da.decision_function(T), atol=1e-5)
    # Sources still separated after adaptation.
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, da.decision_function(X)) > 0.9


def test_domain_labels_pair_reals_with_their_twins_fakes():
    rows = [
        ManifestRow("r1", "real", source="cam0", scene_id="s1"), ManifestRow("f1", "fake", source="g0", scene_id="s1"),
        ManifestRow("r2", "real", source="cam1", scene_id="s2"), ManifestRow("f2", "fake", source="g1", scene_id="s2"),
        ManifestRow("r3", "real", source="cam0", scene_id="s3"), ManifestRow("f3", "fake", source="g0", scene_id="s3"),
    ]
    assert domain_labels(rows) == ["g0", "g0", "g1", "g1", "g0", "g0"]
    # Without scene ids the reals cannot be assigned: one pooled source domain.
    loose = [ManifestRow("r", "real", source="cam0"), ManifestRow("f", "fake", source="g0")]
    assert domain_labels(loose) == ["source", "source"]


def test_fit_errors():
    X, y, dom, T, _ = _shifted()
    with pytest.raises(InputError):
        MultiSourceAdapter().fit(X, y, dom[:-1], T)
    with pytest.raises(InputError):
        MultiSourceAdapter().fit(X, y, dom, T[:, :3])


def test_train_with_target_unlabeled(tiny_bench, tmp_path):
    from synthtrace.backbones.tiny import save_tiny_model
    from synthtrace.detector import DetectorBundle
    from synthtrace.io.manifest import read_manifest, write_manifest
    from synthtrace.training.train import train_detector

    vit = save_tiny_model("vit", tmp_path / "vit")
    m = read_manifest(tiny_bench / "manifest.csv")
    held = [r for r in m if r.split == "test" and not r.mask_path]
    target = write_manifest(tmp_path / "target.csv", [r.__class__(**{**r.__dict__, "path": str(m.path_of(r))}) for r in held])
    logs = []
    bundle = train_detector(tiny_bench / "manifest.csv", tmp_path / "b", backbone=f"hf:{vit}", progress=False,
                            target_unlabeled=target, log=logs.append)
    info = bundle.head["domain_adaptation"]
    assert info["n_target"] == len(held) and len(info["domains"]) >= 2
    assert any("moment discrepancy" in line for line in logs)
    loaded = DetectorBundle.from_pretrained(tmp_path / "b")
    assert loaded.kind == "linear_probe"
    assert json.loads((tmp_path / "b" / "config.json").read_text())["head"]["domain_adaptation"]["history"]
    with pytest.raises(ConfigError, match="target_unlabeled"):
        train_detector(tiny_bench / "manifest.csv", tmp_path / "c", target_unlabeled=target, progress=False)
