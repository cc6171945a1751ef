import numpy as np

from synthtrace.localization.heatmap import noise_inconsistency_map, sliding_window_heatmap


class _Cal:
    def probability(self, s):
        return 1 / (1 + np.exp(-np.asarray(s)))


class _RedDetector:
    """Scores a window by how red it is: a stand-in for a bundle."""

    calibration = _Cal()

    def __init__(self):
        self.batches = []

    def score_images(self, images):
        self.batches.append(len(images))
        return np.array([(im[..., 0].astype(float) - im[..., 1]).mean() / 20 for im in images])


def test_sliding_window_localizes_and_batches():
    rng = np.random.default_rng(0)
    img = rng.integers(80, 120, (128, 160, 3)).astype(np.uint8)
    img[32:96, 64:128, 0] = 250
    det = _RedDetector()
    hm = sliding_window_heatmap(det, img, window=32, stride=16, batch_size=10)
    assert hm.score.shape == (128, 160) and max(det.batches) <= 10
    assert hm.score[64, 96] > 0.9 > hm.score[5, 5]
    assert hm.confidence.shape == (128, 160) and 0 <= hm.confidence.min() <= hm.confidence.max() <= 1


def test_noise_map_flags_a_smooth_patch():
    rng = np.random.default_rng(1)
    img = np.clip(128 + rng.normal(0, 12, (128, 128, 3)), 0, 255).astype(np.uint8)
    img[40:90, 40:90] = 128  # pasted region without camera noise
    hm = noise_inconsistency_map(img)
    assert hm.score[65, 65] > hm.score[10, 10]
    assert hm.confidence[65, 65] < hm.confidence[10, 10]  # flat → low confidence


def test_summary_top_window_and_normalisation():
    from synthtrace.localization.heatmap import heatmap_summary, localization_summary, normalize_map

    rng = np.random.default_rng(2)
    img = rng.integers(80, 120, (96, 128, 3)).astype(np.uint8)
    img[16:48, 64:96, 0] = 250
    s = localization_summary(img, _RedDetector(), window=32, stride=8)
    tw = s["top_window"]
    assert s["method"] == "sliding-window" and 0 <= s["mean"] <= s["max"] <= 1
    assert (tw["x"], tw["y"], tw["width"]) == (64, 16, 32) and tw["score"] > 0.9
    # large images: the stride (and the window) grow until the window budget holds
    s = localization_summary(img, _RedDetector(), window=16, stride=8, max_windows=20)
    assert s["params"]["n_windows"] <= 20 and s["params"]["window"] >= s["params"]["stride"]
    # without a detector: the noise map, top window found on the map itself
    flat = np.clip(128 + rng.normal(0, 12, (96, 96, 3)), 0, 255).astype(np.uint8)
    flat[50:90, 8:48] = 128
    s = heatmap_summary(noise_inconsistency_map(flat, window=32))
    assert s["method"] == "noise-inconsistency" and 18 <= s["top_window"]["y"] <= 58 and s["top_window"]["x"] <= 16
    assert "error" in localization_summary(img, object())  # never raises
    m = np.array([[0.2, 0.9], [0.9, 0.5]])
    assert np.allclose(normalize_map(m, "minmax"), [[0, 1], [1, 3 / 7]])
    assert np.allclose(normalize_map(m, "rank"), [[0, 2.5 / 3], [2.5 / 3, 1 / 3]])


def test_scan_localize_option(tmp_path):
    from PIL import Image

    from synthtrace.scan import ScanOptions, scan_file

    rng = np.random.default_rng(3)
    p = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)).save(p)
    off = scan_file(p, None, ScanOptions(provenance=False, signals=False))
    assert "localization" not in off.to_dict()
    on = scan_file(p, None, ScanOptions(provenance=False, signals=False, localize=True))
    loc = on.to_dict()["localization"]
    assert set(loc) >= {"max", "mean", "top_window"} and loc["method"] == "noise-inconsistency"
