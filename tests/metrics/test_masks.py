import numpy as np
import pytest

from synthtrace.metrics.masks import best_f1, image_mask_metrics, mask_metrics


def test_authentic_conventions():
    z = np.zeros((8, 8))
    r = image_mask_metrics(z, np.zeros((8, 8), bool))
    assert r["f1_at_threshold"] == 1.0 and r["iou_at_threshold"] == 1.0 and r["authentic"]
    s = z.copy()
    s[0, 0] = 0.9
    r = image_mask_metrics(s, np.zeros((8, 8), bool))
    assert r["f1_at_threshold"] == 0.0 and r["iou_at_threshold"] == 0.0


def test_best_f1_and_dataset():
    g = np.zeros((10, 10), bool)
    g[2:5, 2:5] = True
    s = np.where(g, 0.3, 0.1)
    f1, thr = best_f1(s, g)
    assert f1 == 1.0 and thr == pytest.approx(0.3)
    r = image_mask_metrics(s, g)
    assert r["f1_at_threshold"] == 0.0 and r["pixel_auc"] == 1.0
    auth = np.full((10, 10), 0.05)
    m = mask_metrics([s, auth], [g, None])
    assert m["pixel_auc"] == 1.0 and m["image_auc_from_max"] == 1.0
    assert m["authentic"]["f1_at_threshold"] == 1.0 and m["edited"]["f1_best_per_image"] == 1.0
