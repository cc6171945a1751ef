import numpy as np

from synthtrace.signals.heatmap import noise_inconsistency_map, sliding_window_heatmap


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
    from synthtrace.signals.heatmap import heatmap_summary, localization_summary, normalize_map

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

    from synthtrace.tasks.scan import ScanOptions, scan_file

    rng = np.random.default_rng(3)
    p = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)).save(p)
    off = scan_file(p, None, ScanOptions(provenance=False, signals=False))
    assert "localization" not in off.to_dict()
    on = scan_file(p, None, ScanOptions(provenance=False, signals=False, localize=True))
    loc = on.to_dict()["localization"]
    assert set(loc) >= {"max", "mean", "top_window"} and loc["method"] == "noise-inconsistency"


def test_window_scores_cache_skips_the_model_on_a_second_run(tmp_path):
    from synthtrace.signals.heatmap import WindowScoreCache

    rng = np.random.default_rng(4)
    img = rng.integers(80, 120, (96, 96, 3)).astype(np.uint8)
    img[20:60, 30:70, 0] = 250
    det = _RedDetector()
    first = sliding_window_heatmap(det, img, window=32, stride=16, cache=tmp_path / "c", image_sha256="ab" * 32)
    n_calls = len(det.batches)
    assert n_calls > 0 and len(list((tmp_path / "c").rglob("*.npz"))) == 1
    cache = WindowScoreCache(tmp_path / "c")  # a new run: fresh cache object on the same folder
    again = sliding_window_heatmap(det, img, window=32, stride=16, cache=cache, image_sha256="ab" * 32,
                                   average="logit")  # averaging reuses the raw scores
    assert len(det.batches) == n_calls and cache.hits == 1 and cache.misses == 0
    same = sliding_window_heatmap(det, img, window=32, stride=16, cache=cache, image_sha256="ab" * 32)
    assert np.allclose(same.score, first.score, atol=1e-6) and same.params["top_window"] == first.params["top_window"]
    assert again.score.shape == first.score.shape
    # another stride, another image or another detector is a miss and runs the model
    sliding_window_heatmap(det, img, window=32, stride=8, cache=cache, image_sha256="ab" * 32)
    assert len(det.batches) > n_calls and cache.misses == 1
    n_calls = len(det.batches)
    sliding_window_heatmap(det, img, window=32, stride=16, cache=cache)  # no file hash: hash of the pixels
    sliding_window_heatmap(det, img, window=32, stride=16, cache=cache)
    assert cache.misses == 2 and len(det.batches) > n_calls


def test_detector_identity_follows_config_and_weights():
    import torch

    from synthtrace.signals.heatmap import WindowScoreCache, detector_identity

    class _Bundle:
        def __init__(self, w):
            self.model = torch.nn.Linear(2, 1)
            with torch.no_grad():
                self.model.weight.fill_(w)
                self.model.bias.fill_(0)

        def config(self):
            return {"kind": "cnn-small", "calibration": {"a": 1}}

    assert detector_identity(_Bundle(1.0)) == detector_identity(_Bundle(1.0)) != detector_identity(_Bundle(2.0))
    assert WindowScoreCache.key("x", "d", 32, 8) != WindowScoreCache.key("x", "d", 32, 16)


def test_cli_localize_cache_second_run_does_not_call_the_model(tmp_path, monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    from synthtrace.cli.app import app
    from synthtrace.detector import DetectorBundle

    det = _RedDetector()
    monkeypatch.setattr(DetectorBundle, "from_pretrained", classmethod(lambda cls, d: det))
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)).save(tmp_path / "a.png")
    args = ["localize", str(tmp_path / "a.png"), "--detector", str(tmp_path), "--out", str(tmp_path / "o"),
            "--window", "32", "--stride", "16", "--cache", str(tmp_path / "cache")]
    r1 = CliRunner().invoke(app, args)
    assert r1.exit_code == 0, r1.output
    n_calls = len(det.batches)
    assert n_calls > 0 and (tmp_path / "o" / "a.overlay.png").is_file()
    first = np.load(tmp_path / "o" / "a.heatmap.npz")["sliding_window"]
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0, r2.output
    assert len(det.batches) == n_calls  # second run: every window score came from the cache
    assert np.array_equal(np.load(tmp_path / "o" / "a.heatmap.npz")["sliding_window"], first)


def test_summary_stores_small_maps_that_decode():
    from synthtrace.signals.heatmap import MAP_MAX_SIDE, decode_map_png, heatmap_summary

    rng = np.random.default_rng(6)
    img = rng.integers(80, 120, (200, 300, 3)).astype(np.uint8)
    img[50:150, 100:200, 0] = 250
    s = heatmap_summary(sliding_window_heatmap(_RedDetector(), img, window=32, stride=16))
    maps = s["maps"]
    assert maps["image_size"] == [200, 300] and max(maps["size"]) == MAP_MAX_SIDE
    score = decode_map_png(maps["score"])
    assert list(score.shape) == maps["size"] and decode_map_png(maps["confidence"]).shape == score.shape
    assert score[21, 32] > 0.8 > score[2, 2]  # the red square, at 64/300 scale
    import json

    assert len(json.dumps(s)) < 12_000  # compact enough for the scan JSON


def test_cli_localize_normalize_and_average_options(tmp_path, monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    from synthtrace.cli.app import app
    from synthtrace.detector import DetectorBundle

    monkeypatch.setattr(DetectorBundle, "from_pretrained", classmethod(lambda cls, d: _RedDetector()))
    img = np.full((64, 64, 3), 100, np.uint8)
    img[16:48, 16:48, 0] = 250
    Image.fromarray(img).save(tmp_path / "a.png")
    base = ["localize", str(tmp_path / "a.png"), "--detector", str(tmp_path), "--window", "16", "--stride", "8"]

    def run(name: str, *extra: str) -> np.ndarray:
        r = CliRunner().invoke(app, base + ["--out", str(tmp_path / name), *extra])
        assert r.exit_code == 0, r.output
        return np.load(tmp_path / name / "a.heatmap.npz")["sliding_window"]

    raw = run("raw", "--normalize", "none")
    ranked = run("ranked", "--normalize", "rank")
    from scipy.stats import spearmanr

    from synthtrace.signals.heatmap import normalize_map

    assert np.array_equal(ranked, normalize_map(raw, "rank")) and not np.array_equal(ranked, raw)
    assert spearmanr(raw.ravel(), ranked.ravel()).statistic == 1.0  # the order within the image is kept
    assert not np.allclose(run("prob", "--average", "probability"), raw)  # logit averaging is the default
    r = CliRunner().invoke(app, base + ["--normalize", "zscore"])
    assert r.exit_code != 0 and "normalize" in str(r.exception)
