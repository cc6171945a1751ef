import numpy as np
from sklearn.metrics import roc_auc_score

from synthtrace.detector import DetectorBundle
from synthtrace.evaluation.evaluate import BUILTIN_NOTE, evaluate_detector
from synthtrace.io.manifest import read_manifest


def test_evaluation_reports_seen_and_held_out_apart(tiny_bench, tiny_bundle):
    result = evaluate_detector(tiny_bundle, tiny_bench / "manifest.csv", n_boot=200, progress=False)
    assert result["dataset"] == BUILTIN_NOTE
    det = DetectorBundle.from_pretrained(tiny_bundle)
    trained = set(det.training["sources"])
    assert set(result["seen_sources"]) <= trained
    assert not set(result["held_out_sources"]) & trained
    assert any(s.startswith("ldm") for s in result["held_out_sources"])
    assert "cam3" in result["held_out_cameras"]

    # Headline AUCs equal scikit-learn's on the per-image scores the report carries.
    scores = result["scores"]
    y = np.array([s["label"] == "fake" for s in scores])
    s = np.array([s["score"] for s in scores])
    src = np.array([r["source"] for r in scores])
    whole = ~np.char.startswith(src.astype(str), "splice:")
    held = np.isin(src, result["held_out_sources"])
    sel = whole & ((~y) | held)
    assert abs(result["held_out_generators"]["roc_auc"] - roc_auc_score(y[sel], s[sel])) < 1e-9
    sel = whole
    assert abs(result["overall"]["roc_auc"] - roc_auc_score(y[sel], s[sel])) < 1e-9
    lo, hi = result["seen_generators"]["roc_auc_ci_low"], result["seen_generators"]["roc_auc_ci_high"]
    assert lo <= result["seen_generators"]["roc_auc"] <= hi
    # Every test row is scored once.
    assert len(scores) == len(read_manifest(tiny_bench / "manifest.csv").where(split="test"))
