import numpy as np
import pytest

from synthtrace.backbones.cnn import CNNSmall, CNNSmallBackbone, CNNSmallConfig
from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.metrics.detection import roc_auc
from synthtrace.heads.cnn_small import CNNSmallClassifier


def _images(n, periodic, seed):
    """Noise images; 'periodic' ones carry a faint period-2 checkerboard (an up-sampling trace)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    board = np.where((yy + xx) % 2 == 0, 6.0, -6.0)[..., None]
    out = []
    for _ in range(n):
        img = 128 + rng.normal(0, 12, (64, 64, 3))
        if periodic:
            img = img + board
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def test_learns_a_periodic_trace():
    x = _images(40, False, 0) + _images(40, True, 1)
    y = np.r_[np.zeros(40), np.ones(40)]
    xt = _images(20, False, 2) + _images(20, True, 3)
    yt = np.r_[np.zeros(20), np.ones(20)]
    clf = CNNSmallClassifier(epochs=6, crop=32, batch_size=16, lr=5e-3).fit(x, y, val_images=xt, val_y=yt)
    assert roc_auc(yt, clf.decision_function(xt)) > 0.9
    assert clf.predict_proba(xt).shape == (40, 2)
    assert len(clf.history_) == 6 and "val_auc" in clf.history_[0]


def test_errors():
    with pytest.raises(NotFittedError):
        CNNSmallClassifier().decision_function(_images(1, False, 0))
    with pytest.raises(InputError, match="both"):
        CNNSmallClassifier(epochs=1).fit(_images(4, False, 0), np.zeros(4))
    with pytest.raises(InputError, match="smaller than"):
        CNNSmallClassifier(epochs=1, crop=128).fit(_images(4, False, 0), np.array([0, 1, 0, 1]))
    with pytest.raises(ConfigError, match="valid keys"):
        CNNSmallConfig.from_dict({"widths": [8], "depth": 3})


def test_no_early_downsampling_and_large_inputs_are_cropped():
    import torch

    model = CNNSmall().eval()
    first = model.features[0]
    assert first.stride == (1, 1) and model.config.strides[:2] == (1, 1)
    big = torch.zeros(1, 3, 600, 900)
    assert model.crop(big).shape[-2:] == (256, 256)
    assert model(big).shape == (1,)


def test_backbone_interface():
    import torch

    bb = CNNSmallBackbone()
    feats = bb.embed(torch.zeros(2, 3, 64, 64))
    assert feats.shape == (2, CNNSmallConfig().widths[-1])
    assert len(bb.weights_hash()) == 64
    with pytest.raises(ConfigError):
        bb.embed(torch.zeros(1, 3, 64, 64), pooling="cls")
