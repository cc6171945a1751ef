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
