import json

import numpy as np
import pytest
from PIL import Image

from synthtrace.detector import DetectorBundle
from synthtrace.errors import BundleError, ConfigError
from synthtrace.features.forensic import FEATURE_NAMES
from synthtrace.training.train import train_detector
from synthtrace.training.forensic import HistoryMatching, matched_view, views_per_image


def _make_manifest(tmp_path, n=10):
    """Fakes: bicubic 4x up-sampled noise (a decoder-like up-sampling); reals: full-band noise as JPEG."""
    rng = np.random.default_rng(0)
    lines = ["path,label,source,family,split"]
    for i in range(n):
        split = "val" if i % 3 == 0 else "train"
        small = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(small).resize((160, 160), Image.BICUBIC).save(tmp_path / f"fake{i}.png")
        lines.append(f"fake{i}.png,fake,up4,up4,{split}")
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(tmp_path / f"real{i}.jpg", quality=92)
        lines.append(f"real{i}.jpg,real,cam,,{split}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "manifest.csv"


def test_views_are_deterministic_and_follow_the_recipe():
    rgb = np.random.default_rng(1).integers(0, 256, (600, 700, 3), dtype=np.uint8)
    a = matched_view(rgb, "fake", "x.png", 0)
    np.testing.assert_array_equal(a, matched_view(rgb, "fake", "x.png", 0))
    assert max(a.shape[:2]) <= max(HistoryMatching().crops)
    plain = HistoryMatching(real_resize=0, fake_resize=0, fake_jpeg=0, resave=0, crops=(128,))
    v = matched_view(rgb, "fake", "x.png", 3, plain)
    assert v.shape == (128, 128, 3)
    # no resize, no JPEG: the view is an exact crop of the input
    found = any(np.array_equal(rgb[t:t + 128, l:l + 128], v) for t in range(600 - 127) for l in range(0, 700 - 127, 1)
                if rgb[t, l, 0] == v[0, 0, 0] and rgb[t, l, 1] == v[0, 0, 1])
    assert found


def test_views_per_image_balance_the_classes():
    assert views_per_image(["fake"] * 300 + ["real"] * 100, HistoryMatching()) == {"real": 3, "fake": 1}
    assert views_per_image(["fake"] * 10 + ["real"] * 100, HistoryMatching()) == {"real": 1, "fake": 4}
    assert views_per_image(["fake"] * 300 + ["real"] * 100, HistoryMatching(balance_views=False)) == {"real": 1, "fake": 1}


def test_recipe_rejects_bad_values_and_round_trips():
    with pytest.raises(ConfigError, match="fake_jpeg"):
        HistoryMatching(fake_jpeg=1.5)
    with pytest.raises(ConfigError, match="crops"):
        HistoryMatching(crops=(32,))
    with pytest.raises(ConfigError, match="unknown"):
        HistoryMatching.from_dict({"nope": 1})
    r = HistoryMatching(resave=0.25, crops=(128, 256))
    assert HistoryMatching.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_train_forensic_bundle_round_trip(tmp_path):
    manifest = _make_manifest(tmp_path, n=45)  # the trees need 20 samples a leaf
    cache = tmp_path / "cache"
    bundle = train_detector(manifest, tmp_path / "det", backbone="forensic", cache_dir=cache, progress=False,
                            data_licences={"example/repo": "MIT"}, history=HistoryMatching(crops=(128,)))
    assert bundle.kind == "forensic" and len(list(cache.glob("views-*.npz"))) == 1
    cfg = json.loads((tmp_path / "det" / "config.json").read_text())
    assert cfg["backbone"]["features"] == list(FEATURE_NAMES)
    assert cfg["training"]["data_licences"] == {"example/repo": "MIT"}
    assert cfg["head"]["history_matching"]["crops"] == [128]
    loaded = DetectorBundle.from_pretrained(tmp_path / "det")
    imgs = [np.asarray(Image.open(tmp_path / f"{k}{i}.{e}").convert("RGB")) for k, e in (("fake", "png"), ("real", "jpg"))
            for i in range(2)]
    np.testing.assert_allclose(loaded.score_images(imgs), bundle.score_images(imgs))
    s = loaded.score_images(imgs)
    assert s[:2].min() > s[2:].max()  # the up-sampled images score as generated
    # a second training run reads the cached views and gives the same head
    again = train_detector(manifest, tmp_path / "det2", backbone="forensic", cache_dir=cache, progress=False,
                           history=HistoryMatching(crops=(128,)))
    np.testing.assert_allclose(again.score_images(imgs), s)


def test_bundle_with_other_features_is_refused(tmp_path):
    manifest = _make_manifest(tmp_path, n=6)
    train_detector(manifest, tmp_path / "det", backbone="forensic", progress=False, history=HistoryMatching(crops=(128,)))
    cfg_path = tmp_path / "det" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["backbone"]["features"] = cfg["backbone"]["features"][:-1]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="other forensic features"):
        DetectorBundle.from_pretrained(tmp_path / "det")


def test_forensic_needs_its_own_backbone(tmp_path):
    with pytest.raises(ConfigError, match="forensic"):
        train_detector(_make_manifest(tmp_path, n=6), tmp_path / "d", backbone="cnn-small", head="forensic", progress=False)


def test_cap_per_family_keeps_photos_and_a_stable_choice(tmp_path):
    from synthtrace.io.manifest import read_manifest
    from synthtrace.training.forensic import capped

    lines = ["path,label,source,family,split"] + [f"a{i}.png,fake,big,big,train" for i in range(30)]
    lines += [f"b{i}.png,fake,small,small,train" for i in range(3)] + [f"r{i}.jpg,real,cam,,train" for i in range(40)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    m = read_manifest(tmp_path / "m.csv")
    c = capped(m, 5)
    fam = [r.family for r in c if r.label == "fake"]
    assert fam.count("big") == 5 and fam.count("small") == 3 and sum(r.label == "real" for r in c) == 40
    assert [r.path for r in capped(m, 5)] == [r.path for r in c]
    assert capped(m, None) is m
    with pytest.raises(ConfigError, match="max_per_family"):
        HistoryMatching(max_per_family=0)
