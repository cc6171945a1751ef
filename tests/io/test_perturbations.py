import io

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from synthtrace.errors import ConfigError
from synthtrace.io.perturbations import (
    BART_TRANSFORMS,
    JPEG,
    N_BINS,
    PERTURBATIONS,
    SPEC_TRANSFORMS,
    AugmentConfig,
    Blur,
    CenterCrop,
    Chain,
    GaussianNoise,
    Grayscale,
    HorizontalFlip,
    Pad,
    ResizeLongSide,
    Scale,
    apply_perturbations,
    augment_image,
    encode_jpeg,
    perturbation_from_dict,
    sample_perturbations,
)
from synthtrace.io.images import estimate_jpeg_quality


@pytest.fixture(scope="module")
def img():
    """A textured colour image: smooth gradients plus fine detail, so every transform has something to change."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:112]
    base = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.float32)
    return np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)


def test_sixteen_spec_transforms():
    assert len(SPEC_TRANSFORMS) == 16 and len(set(SPEC_TRANSFORMS)) == 16
    assert all(n in PERTURBATIONS for n in SPEC_TRANSFORMS + BART_TRANSFORMS)


@pytest.mark.parametrize("name", sorted(set(SPEC_TRANSFORMS + BART_TRANSFORMS)))
def test_every_transform_every_bin(img, name):
    rng = np.random.default_rng(1)
    for level in range(N_BINS):
        p = PERTURBATIONS[name].at_strength(level, rng)
        out = p.apply(img)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert np.array_equal(out, p.apply(img)), "a fully parameterised perturbation is deterministic"
        assert perturbation_from_dict(p.to_dict()) == p
        assert p.to_dict()["name"] == name
        assert out.shape != img.shape or not np.array_equal(out, img), f"{p} left the image unchanged"
    assert img.flags.writeable and img[0, 0, 0] == img.copy()[0, 0, 0]  # input untouched


def test_jpeg_quality_is_measurable(img):
    for q in JPEG.BINS:
        data = encode_jpeg(img, q)
        assert estimate_jpeg_quality(Image.open(io.BytesIO(data)).quantization) == q
    # Lower quality loses more.
    errs = [np.abs(JPEG(q).apply(img).astype(int) - img).mean() for q in (95, 75, 30)]
    assert errs[0] < errs[1] < errs[2]


def test_scale_and_crop_sizes(img):
    h, w = img.shape[:2]
    assert Scale(0.5).apply(img).shape == (round(h * 0.5), round(w * 0.5), 3)
    assert Scale(0.25).apply(img).shape == (round(h * 0.25), round(w * 0.25), 3)
    assert CenterCrop(0.5).apply(img).shape == (48, 56, 3)
    np.testing.assert_array_equal(CenterCrop(0.5).apply(img), img[24:72, 28:84])
    assert Pad(0.25, 0).apply(img).shape == (h + 48, w + 56, 3)
    assert ResizeLongSide(56).apply(img).shape == (48, 56, 3)
    np.testing.assert_array_equal(ResizeLongSide(1080).apply(img), img)  # platforms do not enlarge
    assert ResizeLongSide(224, downscale_only=False).apply(img).shape == (192, 224, 3)


def test_blur_is_gaussian_with_that_sigma(img):
    ref = np.clip(np.rint(ndimage.gaussian_filter(img.astype(np.float32), (2.0, 2.0, 0))), 0, 255)
    np.testing.assert_array_equal(Blur(2.0).apply(img), ref.astype(np.uint8))
    hf = [np.abs(np.diff(Blur(s).apply(img).astype(float), axis=1)).mean() for s in (0.5, 1, 2, 3)]
    assert hf == sorted(hf, reverse=True)


def test_noise_has_the_stated_std():
    grey = np.full((128, 128, 3), 128, np.uint8)
    diff = GaussianNoise(6.0, seed=3).apply(grey).astype(float) - 128
    assert abs(diff.std() - 6.0) < 0.2
    assert not np.array_equal(GaussianNoise(6.0, seed=3).apply(grey), GaussianNoise(6.0, seed=4).apply(grey))


def test_simple_transforms(img):
    np.testing.assert_array_equal(HorizontalFlip().apply(img), img[:, ::-1])
    g = Grayscale().apply(img)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])


def test_chain_round_trip_and_order(img):
    c = Chain((ResizeLongSide(56), JPEG(75)))
    assert perturbation_from_dict(c.to_dict()) == c
    np.testing.assert_array_equal(c.apply(img), JPEG(75).apply(ResizeLongSide(56).apply(img)))
    assert "→" in c.label()


def test_bad_inputs():
    with pytest.raises(ConfigError, match="expected one of"):
        perturbation_from_dict({"name": "sepia"})
    with pytest.raises(ConfigError, match="unknown parameters"):
        perturbation_from_dict({"name": "jpeg", "qualiti": 3})
    with pytest.raises(ConfigError, match="uint8 RGB"):
        apply_perturbations(np.zeros((4, 4), np.uint8), [JPEG(50)])
    with pytest.raises(ConfigError):
        AugmentConfig(mode="magic")
    with pytest.raises(ConfigError, match="unknown augment keys"):
        AugmentConfig.from_dict({"mod": "spec"})


def test_sampler_is_deterministic_and_follows_the_spec(img):
    draws = [sample_perturbations(np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    seen, counts = set(), set()
    for _ in range(400):
        ops = sample_perturbations(rng)
        counts.add(len(ops))
        assert len({o.name for o in ops}) == len(ops)  # distinct transforms
        seen |= {o.name for o in ops}
    assert counts == {0, 1, 2}
    assert seen == set(SPEC_TRANSFORMS)

    bart = AugmentConfig(mode="bart")
    rng = np.random.default_rng(0)
    draws = [sample_perturbations(rng, bart) for _ in range(400)]
    assert all(len(d) <= 1 and all(o.name in BART_TRANSFORMS for o in d) for d in draws)
    assert 0.4 < np.mean([len(d) == 0 for d in draws]) < 0.6  # p = 0.5


def test_augment_records_exactly_what_was_applied(img):
    rng = np.random.default_rng(11)
    for _ in range(20):
        out, ops = augment_image(img, rng)
        replayed = apply_perturbations(img, [perturbation_from_dict(o.to_dict()) for o in ops])
        np.testing.assert_array_equal(out, replayed)


def test_augment_config_round_trip():
    cfg = AugmentConfig(mode="spec", max_ops=1, transforms=("jpeg", "scale"))
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert AugmentConfig.parse("none") is None and AugmentConfig.parse("bart").mode == "bart"
    assert AugmentConfig.parse("spec:jpeg, scale") == AugmentConfig(mode="spec", transforms=("jpeg", "scale"))
    assert AugmentConfig.parse("spec:jpeg").max_ops == 1
    with pytest.raises(ConfigError, match="expected names from"):
        AugmentConfig.parse("spec:jpg")


def test_cnn_small_trains_with_augmentation():
    from synthtrace.heads.cnn_small import CNNSmallClassifier

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (72, 72, 3), dtype=np.uint8) for _ in range(8)]
    y = [0, 1] * 4
    clf = CNNSmallClassifier(epochs=2, batch_size=4, augment=AugmentConfig(min_ops=1, max_ops=2)).fit(images, y)
    assert sum(clf.augment_counts_.values()) >= 16  # at least one op per image per epoch
    assert clf.get_params()["augment"]["mode"] == "spec"
    assert clf.decision_function(images).shape == (8,)
