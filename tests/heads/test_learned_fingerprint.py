"""The learned fingerprint: residual definition, training, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import synthtrace.heads.learned_fingerprint as lf
from synthtrace.errors import BundleError, ConfigError, InputError, NotFittedError
from synthtrace.heads.learned_fingerprint import (
    LearnedFingerprint, LearnedFingerprintConfig, is_learned_fingerprint, noise_residual, platform_augment, wccn_map)

TINY = dict(widths=(8, 8, 16, 16), strides=(1, 1, 2, 2), crop=32, batch_size=16)


@pytest.fixture(autouse=True)
def one_thread():
    """Many tiny ops: on a busy shared CPU, intra-op threads only add waits."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def two_sources(n: int, seed: int, size: int = 48, names: tuple[str, ...] = ("a", "b")) -> tuple[list[np.ndarray], list[str]]:
    """Random smooth content plus a faint fixed pattern of period 2 (source a) or 4 (source b;
    source c: another period-4 pattern), the sources taking turns."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    patterns = {"a": np.where((yy + xx) % 2 == 0, 1.0, -1.0),
                "b": np.tile(np.random.default_rng(99).choice([-1.0, 1.0], (4, 4)), (size // 4, size // 4)),
                "c": np.tile(np.random.default_rng(7).choice([-1.0, 1.0], (4, 4)), (size // 4, size // 4))}
    imgs, labels = [], []
    for i in range(n):
        low = rng.uniform(40, 215, (6, 6, 3)).astype(np.uint8)
        smooth = np.asarray(Image.fromarray(low).resize((size, size), Image.BICUBIC), dtype=np.float64)
        lab = names[i % len(names)]
        imgs.append(np.clip(np.rint(smooth + 3.0 * patterns[lab][..., None]), 0, 255).astype(np.uint8))
        labels.append(lab)
    return imgs, labels


def test_residual_equals_the_handcrafted_definition():
    from synthtrace.features.fingerprint import noise_residual as np_residual
    from synthtrace.heads.cnn_small import to_tensor

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 40, 56, 3), dtype=np.uint8)
    ref = np_residual(imgs.astype(np.float64) / 255.0)  # pixels in [0, 1], channels last
    x64 = torch.from_numpy(imgs.transpose(0, 3, 1, 2).astype(np.float64)) / 127.5 - 1.0  # [-1, 1], channels first
    got = noise_residual(x64)
    np.testing.assert_allclose(got.numpy().transpose(0, 2, 3, 1), ref, atol=1e-9)
    # the handcrafted fingerprint's own float32 path agrees as well
    ref32 = np_residual(imgs.astype(np.float32) / 255.0)
    got32 = noise_residual(torch.stack([to_tensor(im) for im in imgs]))
    np.testing.assert_allclose(got32.numpy().transpose(0, 2, 3, 1), ref32, atol=1e-4)
    # cyclic: a flat image has no residual, a shifted image the shifted residual
    assert torch.all(noise_residual(torch.ones(1, 3, 16, 16)) == 0)
    x = torch.from_numpy(ref[:1].transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(noise_residual(torch.roll(x, (3, 5), (2, 3))), torch.roll(noise_residual(x), (3, 5), (2, 3)),
                               atol=1e-9)


def test_config_round_trip_and_validation():
    cfg = LearnedFingerprintConfig(epochs=3, augment=0.25, **TINY)
    d = cfg.to_dict()
    assert d["widths"] == [8, 8, 16, 16]
    assert LearnedFingerprintConfig.from_dict(d) == cfg
    assert LearnedFingerprintConfig().network().widths == LearnedFingerprintConfig().widths
    with pytest.raises(ConfigError, match="epoch_count"):
        LearnedFingerprintConfig.from_dict({**d, "epoch_count": 3})
    with pytest.raises(ConfigError, match="multiple of 8"):
        LearnedFingerprintConfig(crop=60)
    with pytest.raises(ConfigError, match="augment"):
        LearnedFingerprintConfig(augment=1.5)


def test_platform_augment_keeps_shape_and_type():
    rng = np.random.default_rng(0)
    im = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    out = platform_augment(im, rng)
    assert out.shape == im.shape and out.dtype == np.uint8 and not np.array_equal(out, im)
    wide = platform_augment(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8), rng)
    assert wide.shape == (40, 40, 3)
    with pytest.raises(InputError, match="uint8"):
        platform_augment(im.astype(np.float32), rng)


def test_it_learns_a_periodic_trace_and_round_trips(tmp_path):
    imgs, labels = two_sources(64, seed=0)
    vimgs, vlabels = two_sources(32, seed=1)
    cfg = LearnedFingerprintConfig(epochs=5, augment=0.0, **TINY)
    fp = LearnedFingerprint(cfg).fit(imgs, labels, val_images=vimgs, val_labels=vlabels, progress=False)
    assert list(fp.classes_) == ["a", "b"]
    assert fp.training_["val_accuracy"] >= 0.9, fp.history_
    assert fp.history_[4]["val_accuracy"] == fp.training_["val_accuracy"]
    acc = np.mean(fp.predict(vimgs) == np.asarray(vlabels))
    assert acc == fp.training_["val_accuracy"]

    X = fp.transform(vimgs)
    assert X.shape == (32, 16) and X.dtype == np.float32
    p = fp.predict_proba(vimgs)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)

    # images of different sizes go through one call; each is analysed on its own
    mixed = [vimgs[0], np.pad(vimgs[1], ((0, 16), (0, 8), (0, 0)), mode="wrap"), vimgs[2]]
    Xm = fp.transform(mixed)
    np.testing.assert_allclose(Xm[[0, 2]], X[[0, 2]], rtol=1e-5, atol=1e-6)

    fp.save_pretrained(tmp_path / "fp")
    assert is_learned_fingerprint(tmp_path / "fp") and not is_learned_fingerprint(tmp_path)
    back = LearnedFingerprint.from_pretrained(tmp_path / "fp")
    assert back.config == cfg and list(back.classes_) == ["a", "b"]
    assert back.training_["val_accuracy"] == fp.training_["val_accuracy"]
    np.testing.assert_array_equal(back.transform(vimgs), X)


def test_adapt_learns_a_source_it_never_saw_and_leaves_the_original(tmp_path):
    imgs, labels = two_sources(64, seed=0)
    fp = LearnedFingerprint(LearnedFingerprintConfig(epochs=5, augment=0.0, **TINY)).fit(imgs, labels, progress=False)
    before = {k: v.clone() for k, v in fp.model_.state_dict().items()}
    X_before = fp.transform(imgs[:4])
    new_imgs, new_labels = two_sources(16, seed=2, names=("c",))  # fewer than a and b: balanced draws
    adapted = fp.adapt(imgs + new_imgs, labels + new_labels, epochs=5, lr=2e-3, progress=False)

    assert list(adapted.classes_) == ["a", "b", "c"] and list(fp.classes_) == ["a", "b"]
    assert all(torch.equal(v, before[k]) for k, v in fp.model_.state_dict().items())
    np.testing.assert_array_equal(fp.transform(imgs[:4]), X_before)
    assert adapted.training_["adapted"]["train_counts"] == {"a": 32, "b": 32, "c": 16}
    assert adapted.training_["adapted"]["epochs"] == 5 and adapted.norm_ is not None

    vimgs, vlabels = two_sources(48, seed=3, names=("a", "b", "c"))
    assert np.mean(fp.predict(vimgs) == np.asarray(vlabels)) <= 2 / 3  # c is not among its classes
    assert np.mean(adapted.predict(vimgs) == np.asarray(vlabels)) >= 0.9
    adapted.save_pretrained(tmp_path / "adapted")
    back = LearnedFingerprint.from_pretrained(tmp_path / "adapted")
    assert list(back.classes_) == ["a", "b", "c"] and back.training_["adapted"]["n_images"] == 80
    np.testing.assert_array_equal(back.transform(vimgs), adapted.transform(vimgs))


def test_adapt_gives_processing_augmentation_to_the_share_asked_for(monkeypatch):
    imgs, labels = two_sources(16, seed=4, size=40)
    fp = LearnedFingerprint(LearnedFingerprintConfig(epochs=1, augment=0.0, normalize="none", **TINY)).fit(
        imgs, labels, progress=False)
    calls = []
    monkeypatch.setattr(lf, "platform_augment", lambda rgb, rng: calls.append(rgb.shape) or platform_augment(rgb, rng))
    plain = fp.adapt(imgs, labels, epochs=2, progress=False)  # the share it was trained with: none
    assert calls == [] and plain.training_["adapted"]["augment"] == 0.0
    strong = fp.adapt(imgs, labels, epochs=2, augment=1.0, progress=False)
    assert len(calls) == 2 * len(imgs) * fp.config.members and strong.training_["adapted"]["augment"] == 1.0
    assert fp.config.augment == 0.0 and strong.config.augment == 0.0  # a fine-tuning setting, not the config's
    with pytest.raises(ConfigError, match="augment=1.5"):
        fp.adapt(imgs, labels, augment=1.5, progress=False)


def test_wccn_map_whitens_the_within_class_scatter_and_removes_a_shared_nuisance():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    n = 400
    y = np.repeat([0, 1], n // 2)
    processed = rng.uniform(size=n) < 0.5  # a nuisance both sources share, like the platform processing
    X = np.c_[np.where(y == 1, 1.0, -1.0) + 0.2 * rng.standard_normal(n),
              3.0 * processed[:, None] + 0.2 * rng.standard_normal((n, 3))]
    m = wccn_map(X, y, ridge=1e-6)
    Z = (X - m["mean"]) / m["scale"]
    Sw = sum((Z[y == c] - Z[y == c].mean(0)).T @ (Z[y == c] - Z[y == c].mean(0)) for c in (0, 1)) / n
    np.testing.assert_allclose(m["transform"] @ Sw @ m["transform"], np.eye(4), atol=1e-4)
    raw = KMeans(2, n_init=10, random_state=0).fit_predict(Z)
    mapped = KMeans(2, n_init=10, random_state=0).fit_predict(Z @ m["transform"])
    assert adjusted_rand_score(processed, raw) > 0.9  # standardised features split by the nuisance
    assert adjusted_rand_score(y, mapped) > 0.9  # the map makes the source the main split


def test_members_are_concatenated_and_round_trip(tmp_path):
    imgs, labels = two_sources(16, seed=4, size=40)
    cfg = LearnedFingerprintConfig(epochs=1, augment=0.0, members=2, wccn_copies=1, **TINY)
    fp = LearnedFingerprint(cfg).fit(imgs, labels, progress=False)
    assert len(fp.models_) == 2 and fp.feature_dim == 32
    a, b = (m.state_dict()["features.0.weight"] for m in fp.models_)
    assert not torch.equal(a, b)  # seeds seed and seed + 1
    X = fp.transform(imgs)
    assert X.shape == (16, 32)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-5)  # WCCN then L2
    raw = fp._embed_raw(imgs).numpy()
    z = ((raw - fp.norm_["mean"]) / fp.norm_["scale"]) @ fp.norm_["transform"]
    np.testing.assert_allclose(X, z / np.linalg.norm(z, axis=1, keepdims=True), rtol=1e-4, atol=1e-5)
    # the ensemble's probabilities are the mean of its members'
    with torch.inference_mode():
        p = [torch.softmax(m.classifier(torch.from_numpy(raw[:, 16 * k : 16 * (k + 1)])), 1) for k, m in enumerate(fp.models_)]
    np.testing.assert_allclose(fp.predict_proba(imgs), (p[0] + p[1]).numpy() / 2, rtol=1e-5, atol=1e-6)
    fp.save_pretrained(tmp_path / "fp")
    back = LearnedFingerprint.from_pretrained(tmp_path / "fp")
    np.testing.assert_array_equal(back.transform(imgs), X)
    plain = LearnedFingerprint(LearnedFingerprintConfig(epochs=1, augment=0.0, normalize="none", **TINY)).fit(
        imgs, labels, progress=False)
    assert plain.norm_ is None
    np.testing.assert_array_equal(plain.transform(imgs), plain._embed_raw(imgs).numpy())
    with pytest.raises(ConfigError, match="normalize"):
        LearnedFingerprintConfig(normalize="pca")


def test_same_seed_same_weights_and_augmentation_runs():
    imgs, labels = two_sources(12, seed=2, size=40)
    cfg = LearnedFingerprintConfig(epochs=2, augment=0.5, seed=7, **TINY)
    a = LearnedFingerprint(cfg).fit(imgs, labels, progress=False)
    b = LearnedFingerprint(cfg).fit(imgs, labels, progress=False)
    sa, sb = a.model_.state_dict(), b.model_.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = LearnedFingerprint(LearnedFingerprintConfig(epochs=2, augment=0.5, seed=8, **TINY)).fit(imgs, labels, progress=False)
    assert not torch.equal(c.model_.state_dict()["features.0.weight"], sa["features.0.weight"])
    assert a.training_["val_accuracy"] is None and a.training_["n_val"] == 0


def test_transform_files_and_errors(tmp_path):
    from PIL import Image

    imgs, labels = two_sources(8, seed=3, size=40)
    fp = LearnedFingerprint(LearnedFingerprintConfig(epochs=1, augment=0.0, **TINY)).fit(imgs, labels, progress=False)
    paths = []
    for i, im in enumerate(imgs[:3]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(im).save(paths[-1])
    np.testing.assert_allclose(fp.transform_files(paths), fp.transform(imgs[:3]), rtol=1e-5, atol=1e-6)

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="broken.png"):
        fp.transform_files([paths[0], bad])
    Image.fromarray(imgs[0][:10, :10]).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="tiny.png.*too small"):
        fp.transform_files([paths[0], tmp_path / "tiny.png"])

    with pytest.raises(NotFittedError):
        LearnedFingerprint().transform(imgs)
    with pytest.raises(InputError, match="2 labels"):
        LearnedFingerprint(LearnedFingerprintConfig(epochs=1, **TINY)).fit(imgs, ["a"] * len(imgs), progress=False)
    with pytest.raises(InputError, match="smaller than the 64-px crop"):
        LearnedFingerprint(LearnedFingerprintConfig(epochs=1, crop=64)).fit(imgs, labels, progress=False)


def test_from_pretrained_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(BundleError, match=r"nowhere.*fingerprint train"):
        LearnedFingerprint.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="learned_fingerprint.json missing"):
        LearnedFingerprint.from_pretrained(tmp_path)
    imgs, labels = two_sources(8, seed=4, size=40)
    fp = LearnedFingerprint(LearnedFingerprintConfig(epochs=1, augment=0.0, **TINY)).fit(imgs, labels, progress=False)
    d = fp.save_pretrained(tmp_path / "fp")
    (d / "learned_fingerprint.safetensors").write_bytes(b"garbage")
    with pytest.raises(BundleError, match="corrupt weights"):
        LearnedFingerprint.from_pretrained(d)
    (d / "learned_fingerprint.safetensors").unlink()
    with pytest.raises(BundleError, match="safetensors is missing"):
        LearnedFingerprint.from_pretrained(d)
    (d / "learned_fingerprint.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt"):
        LearnedFingerprint.from_pretrained(d)
    assert not is_learned_fingerprint(d)
