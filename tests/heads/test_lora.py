from __future__ import annotations

import numpy as np
import pytest
import torch

from synthtrace.backbones.tiny import save_tiny_model
from synthtrace.errors import ConfigError, InputError, NotFittedError
from synthtrace.heads.lora import FineTuneConfig, FineTunedClassifier, linear_module_names

pytest.importorskip("peft")


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    return save_tiny_model("vit", tmp_path_factory.mktemp("lora") / "vit")


@pytest.fixture(scope="module")
def data():
    """Fakes carry a brighter top half: learnable by the tower, invisible to nothing."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3, 32, 32)).astype(np.float32)
    y = np.tile([0, 1], 16)
    X[y == 1, :, :16] += 0.8
    return X, y


def test_linear_module_names_cover_attention_and_mlp(vit_dir):
    from transformers import ViTModel

    names = linear_module_names(ViTModel.from_pretrained(vit_dir))
    leaves = {n.rsplit(".", 1)[-1] for n in names}
    # transformers 5 names them q/k/v/o_proj, fc1, fc2; older versions query/key/value/dense.
    assert {"q_proj", "k_proj", "v_proj", "fc1", "fc2"} <= leaves or {"query", "key", "value", "dense"} <= leaves
    assert not any(n.startswith("pooler") for n in names)
    assert len(names) == 2 * 6  # 2 blocks x (q, k, v, attn out, mlp in, mlp out)


def test_lora_training_lowers_loss_and_merge_is_exact(vit_dir, data):
    X, y = data
    cfg = FineTuneConfig(rank=4, alpha=8, lr=0.05, max_epochs=6, batch_size=8, hflip=False)
    clf = FineTunedClassifier(f"hf:{vit_dir}", config=cfg).fit(X, y, X, y)
    losses = [h["val_loss"] for h in clf.history_]
    assert losses[0] == pytest.approx(np.log(2), abs=1e-6)  # zero head → p = 0.5
    assert min(losses[1:]) < losses[0] - 0.01
    assert clf.merge_max_abs_diff_ < 1e-4
    # Merged weights differ from the frozen tower only where LoRA adapted them.
    assert not any("lora" in k for k in clf.state_dict())


def test_merged_equals_unmerged_with_nonzero_adapters(vit_dir, data):
    """Independent of fit: random B matrices, output before and after merge_and_unload."""
    X, _ = data
    clf = FineTunedClassifier(f"hf:{vit_dir}", config=FineTuneConfig(rank=4, alpha=8))
    tower = clf._load_backbone()
    wrapped = clf._wrap_lora(tower)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
        x = torch.from_numpy(X[:4])
        before = wrapped(pixel_values=x).last_hidden_state
        frozen = clf._load_backbone()(pixel_values=x).last_hidden_state
        merged = wrapped.merge_and_unload()(pixel_values=x).last_hidden_state
    assert (before - frozen).abs().max() > 1e-2  # the adapters do change the output
    torch.testing.assert_close(merged, before, atol=1e-5, rtol=1e-5)


def test_round_trip_without_peft_and_bundle(vit_dir, data, tmp_path, monkeypatch):
    from synthtrace.detector import DetectorBundle
    from synthtrace.heads.calibration import fit_calibration

    X, y = data
    clf = FineTunedClassifier(f"hf:{vit_dir}", pooling="mean",
                              config=FineTuneConfig(rank=2, alpha=4, lr=0.05, max_epochs=2, batch_size=8)).fit(X, y, X, y)
    scores = clf.decision_function(X)
    arch = clf.get_params()["architecture"]
    bundle = DetectorBundle(
        kind="finetuned", backbone={"id": arch["backbone"], "layer": "last", "pooling": "mean"},
        preprocess=arch["preprocess"], head={"type": "finetuned", "params": clf.get_params()},
        calibration=fit_calibration(y, scores), model=clf,
    )
    bundle.save_pretrained(tmp_path / "b")
    # Loading must need neither peft nor the original checkpoint directory.
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)
    loaded = DetectorBundle.from_pretrained(tmp_path / "b")
    np.testing.assert_allclose(loaded.model.decision_function(X), scores, atol=1e-5)
    rgb = [np.full((40, 40, 3), v, np.uint8) for v in (10, 200)]
    np.testing.assert_allclose(loaded.score_images(rgb), clf.score_images(rgb), atol=1e-5)


def test_full_finetune_updates_every_weight(vit_dir, data):
    X, y = data
    cfg = FineTuneConfig(mode="full", lr=0.05, max_epochs=3, batch_size=8)
    clf = FineTunedClassifier(f"hf:{vit_dir}", config=cfg).fit(X, y, X, y)
    assert clf.best_epoch_ > 0
    frozen = clf._load_backbone().state_dict()
    changed = [k for k, v in clf.model_.tower.state_dict().items() if "pooler" not in k and not torch.equal(v, frozen[k])]
    assert len(changed) > 10


def test_init_head_reproduces_probe_at_epoch_zero(vit_dir, data):
    from synthtrace.backbones.registry import create_backbone
    from synthtrace.heads.linear_probe import LinearProbe

    X, y = data
    bb = create_backbone(f"hf:{vit_dir}")
    feats = bb.embed(torch.from_numpy(X)).numpy()
    probe = LinearProbe().fit(feats, y)
    clf = FineTunedClassifier(f"hf:{vit_dir}", config=FineTuneConfig(max_epochs=0))
    clf.fit(X, y, X, y, init_head=(probe.coef_[0], probe.intercept_[0]))
    np.testing.assert_allclose(clf.decision_function(X), probe.decision_function(feats), atol=1e-4)


def test_errors(vit_dir, data):
    X, y = data
    with pytest.raises(ConfigError, match="mode"):
        FineTuneConfig(mode="qlora")
    with pytest.raises(ConfigError, match="unknown fine-tune config keys"):
        FineTuneConfig.from_dict({"rnak": 4})
    with pytest.raises(NotFittedError):
        FineTunedClassifier(f"hf:{vit_dir}").decision_function(X)
    with pytest.raises(InputError, match="pixels"):
        FineTunedClassifier(f"hf:{vit_dir}").fit(X[:, 0], y, X, y)
    with pytest.raises(ConfigError, match="Valid names"):
        FineTunedClassifier(f"hf:{vit_dir}", config=FineTuneConfig(target_modules=("nope",), max_epochs=1)).fit(X, y, X, y)
