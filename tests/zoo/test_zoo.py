"""Zoo conversions: synthetic checkpoints in the exact published key layouts and shapes,
converted, then compared with an independent computation of each original formula.

The references below are hand-written torchvision-layout forwards (F.conv2d on the
checkpoint tensors by their published names), so a wrong key mapping, stride
placement, stem or NPR residual makes these tests fail.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from synthtrace.detector import DetectorBundle
from synthtrace.errors import BundleError, ConfigError
from synthtrace.training.convert import calibrate_bundle, convert
from synthtrace.zoo import ZOO
from synthtrace.zoo.entries import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from synthtrace.zoo.models import RESNET50_DEPTHS, ResNetFC, map_resnet_state, resnet_config, torchvision_to_transformers

# ----------------------------------------------------------------- synthetic checkpoints


def _bn(state, prefix, c, g):
    state[f"{prefix}.weight"] = 0.5 + 0.5 * torch.rand(c, generator=g)
    state[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=g)
    state[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=g)
    state[f"{prefix}.running_var"] = 0.5 + torch.rand(c, generator=g)
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(1000, dtype=torch.long)


def _conv(state, key, cout, cin, k, g):
    state[key] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5


def torchvision_resnet_state(depths, *, stem_kernel=7, fc="fc", seed=0):
    """A torchvision Bottleneck ResNet state_dict (ResNet-50 widths) with random tensors."""
    g = torch.Generator().manual_seed(seed)
    s: dict[str, torch.Tensor] = {}
    _conv(s, "conv1.weight", 64, 3, stem_kernel, g)
    _bn(s, "bn1", 64, g)
    inplanes = 64
    for i, n in enumerate(depths, start=1):
        planes = 64 * 2 ** (i - 1)
        for j in range(n):
            p = f"layer{i}.{j}"
            cin = inplanes if j == 0 else planes * 4
            _conv(s, f"{p}.conv1.weight", planes, cin, 1, g)
            _bn(s, f"{p}.bn1", planes, g)
            _conv(s, f"{p}.conv2.weight", planes, planes, 3, g)
            _bn(s, f"{p}.bn2", planes, g)
            _conv(s, f"{p}.conv3.weight", planes * 4, planes, 1, g)
            _bn(s, f"{p}.bn3", planes * 4, g)
            if j == 0:
                _conv(s, f"{p}.downsample.0.weight", planes * 4, inplanes, 1, g)
                _bn(s, f"{p}.downsample.1", planes * 4, g)
        inplanes = planes * 4
    s[f"{fc}.weight"] = 0.05 * torch.randn(1, inplanes, generator=g)
    s[f"{fc}.bias"] = torch.tensor([0.3])
    return s


def _bn_f(x, s, p):
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"], False, 0.0, 1e-5)


def reference_resnet(x, s, depths, *, stem_kernel=7, fc="fc"):
    """torchvision's ResNet forward (stride on the 3x3 conv), written out on the raw keys."""
    x = F.relu(_bn_f(F.conv2d(x, s["conv1.weight"], stride=2, padding=stem_kernel // 2), s, "bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for i, n in enumerate(depths, start=1):
        for j in range(n):
            p = f"layer{i}.{j}"
            stride = 2 if (i > 1 and j == 0) else 1
            out = F.relu(_bn_f(F.conv2d(x, s[f"{p}.conv1.weight"]), s, f"{p}.bn1"))
            out = F.relu(_bn_f(F.conv2d(out, s[f"{p}.conv2.weight"], stride=stride, padding=1), s, f"{p}.bn2"))
            out = _bn_f(F.conv2d(out, s[f"{p}.conv3.weight"]), s, f"{p}.bn3")
            idn = x
            if f"{p}.downsample.0.weight" in s:
                idn = _bn_f(F.conv2d(x, s[f"{p}.downsample.0.weight"], stride=stride), s, f"{p}.downsample.1")
            x = F.relu(out + idn)
    x = x.mean(dim=(2, 3))
    return (x @ s[f"{fc}.weight"].T + s[f"{fc}.bias"])[:, 0]


def normalise(rgb, mean, std):
    x = torch.from_numpy(rgb).float().permute(2, 0, 1)[None] / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _images(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in shapes]


@pytest.fixture(scope="module")
def cnndet_ckpt(tmp_path_factory):
    state = torchvision_resnet_state(RESNET50_DEPTHS, seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "blur_jpg_prob0.5.pth"
    torch.save({"model": state}, path)  # CNNDetection's layout
    return path, state


@pytest.fixture(scope="module")
def npr_ckpt(tmp_path_factory):
    state = torchvision_resnet_state((3, 4), stem_kernel=3, fc="fc1", seed=2)
    path = tmp_path_factory.mktemp("ckpt") / "NPR.pth"
    torch.save(state, path)  # NPR's layout: the bare state_dict
    return path, state


@pytest.fixture(scope="module")
def tiny_clip_l14_proj(tmp_path_factory):
    """A tiny CLIP vision tower with ViT-L/14's 768-d projection, saved like a real checkpoint."""
    import transformers as T

    out = tmp_path_factory.mktemp("clip")
    torch.manual_seed(0)
    cfg = T.CLIPVisionConfig(image_size=224, patch_size=32, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=64, projection_dim=768)
    T.CLIPVisionModelWithProjection(cfg).save_pretrained(out)
    proc = getattr(T, "CLIPImageProcessorPil", None) or T.CLIPImageProcessor
    proc(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def ufd_ckpt(tmp_path_factory):
    g = torch.Generator().manual_seed(3)
    state = {"weight": torch.randn(1, 768, generator=g), "bias": torch.tensor([-0.2])}
    path = tmp_path_factory.mktemp("ckpt") / "fc_weights.pth"
    torch.save(state, path)
    return path, state


# ----------------------------------------------------------------- key mapping


def test_key_mapping_covers_every_resnet50_key():
    from transformers import ResNetModel

    state = torchvision_resnet_state(RESNET50_DEPTHS)
    model = ResNetFC(resnet_config(RESNET50_DEPTHS, (256, 512, 1024, 2048))).resnet
    mapped = map_resnet_state(state, model, fc="fc", where="test")
    assert isinstance(model, ResNetModel)
    assert set(mapped) == set(model.state_dict())  # every network weight filled ...
    assert len(mapped) == len(state) - 2  # ... by exactly the checkpoint's non-fc keys, one to one
    assert torchvision_to_transformers("layer3.0.downsample.1.running_var") == "encoder.stages.2.layers.0.shortcut.normalization.running_var"
    assert torchvision_to_transformers("layer4.2.conv3.weight") == "encoder.stages.3.layers.2.layer.2.convolution.weight"
    assert torchvision_to_transformers("bn1.num_batches_tracked") == "embedder.embedder.normalization.num_batches_tracked"
    assert torchvision_to_transformers("fc.weight") is None
    with pytest.raises(BundleError, match="do not belong"):
        map_resnet_state({**state, "layer5.0.conv1.weight": torch.zeros(1)}, model, fc="fc", where="test")
    with pytest.raises(BundleError, match="missing"):
        map_resnet_state({k: v for k, v in state.items() if k != "layer2.3.bn2.bias"}, model, fc="fc", where="test")


# ----------------------------------------------------------------- formula tests


def test_cnndetection_matches_torchvision_resnet50(cnndet_ckpt, tmp_path):
    path, state = cnndet_ckpt
    convert("CNNDetection", path, tmp_path / "b")
    bundle = DetectorBundle.from_pretrained(tmp_path / "b")  # through safetensors
    images = _images([(64, 64), (64, 80)])
    got = bundle.score_images(images)
    want = [float(reference_resnet(normalise(im, IMAGENET_MEAN, IMAGENET_STD), state, RESNET50_DEPTHS)) for im in images]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.std(want) > 1e-3  # the check is not vacuous: different images, different logits


def test_npr_matches_original_formula(npr_ckpt, tmp_path):
    path, state = npr_ckpt
    convert("NPR", path, tmp_path / "b")
    bundle = DetectorBundle.from_pretrained(tmp_path / "b")
    images = _images([(64, 64), (48, 64), (65, 63)])  # odd sizes lose their last row/column

    def reference(im):
        im = im[: im.shape[0] // 2 * 2, : im.shape[1] // 2 * 2]
        x = normalise(im, IMAGENET_MEAN, IMAGENET_STD)
        # up(down(x)), nearest x0.5 then x2: every pixel replaced by the top-left one of its 2x2 block
        block = x[..., ::2, ::2].repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
        return float(reference_resnet((x - block) * 2.0 / 3.0, state, (3, 4), stem_kernel=3, fc="fc1"))

    want = [reference(im) for im in images]
    np.testing.assert_allclose(bundle.score_images(images), want, rtol=1e-4, atol=1e-4)
    # A plain ResNet on x (no residual) would give something else.
    plain = float(reference_resnet(normalise(images[0], IMAGENET_MEAN, IMAGENET_STD) * 2 / 3, state, (3, 4), stem_kernel=3, fc="fc1"))
    assert abs(plain - want[0]) > 1e-3


def test_ufd_matches_fc_on_projected_clip_embedding(ufd_ckpt, tiny_clip_l14_proj, tmp_path):
    import transformers as T

    path, state = ufd_ckpt
    convert("UniversalFakeDetect", path, tmp_path / "b", backbone=f"hf:{tiny_clip_l14_proj}")
    bundle = DetectorBundle.from_pretrained(tmp_path / "b")
    images = _images([(240, 256), (227, 300), (229, 231), (200, 250)])  # odd margins round; 200 pads
    clip = T.CLIPVisionModelWithProjection.from_pretrained(tiny_clip_l14_proj).eval()
    want = []
    with torch.no_grad():
        for im in images:
            t = torch.from_numpy(im).permute(2, 0, 1)
            h, w = im.shape[:2]
            if h < 224 or w < 224:  # torchvision CenterCrop pads (left, top, right, bottom) with 0 first
                ph, pw = max(224 - h, 0), max(224 - w, 0)
                t = F.pad(t, (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2))
                h, w = t.shape[-2:]
            top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
            crop = t[:, top:top + 224, left:left + 224].permute(1, 2, 0).numpy()
            x = normalise(np.ascontiguousarray(crop), CLIP_MEAN, CLIP_STD)
            emb = clip(pixel_values=x).image_embeds  # projected, not pooler_output; no L2 norm
            want.append(float(emb @ state["weight"].T + state["bias"]))
    np.testing.assert_allclose(bundle.score_images(images), want, rtol=1e-4, atol=1e-5)
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["backbone"]["pooling"] == "embeds" and cfg["preprocess"]["resize"] is None and cfg["preprocess"]["crop"] == 224


# ----------------------------------------------------------------- bundle records


def test_bundle_records_licence_source_and_honest_calibration(cnndet_ckpt, tmp_path):
    path, _ = cnndet_ckpt
    bundle = convert("CNNDetection", path, tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    t = cfg["training"]
    assert "CC BY-NC-SA 4.0" in t["licence"] and "PeterWang512/CNNDetection" in t["source"]
    assert t["converted_from"]["file"] == path.name and len(t["converted_from"]["sha256"]) == 64
    assert t["calibrated"] is False and "uncalibrated" in t["calibration_note"]
    assert cfg["calibration"] == {"method": "platt", "params": {"a": 1.0, "b": 0.0}, "thresholds": {}}
    assert cfg["preprocess"]["mean"] == list(IMAGENET_MEAN) and cfg["preprocess"]["resize"] is None
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["config.json", "model.safetensors"]
    assert bundle.threshold("0.5") == 0.0  # the published rule: sigmoid(logit) >= 0.5
    with pytest.raises(ConfigError, match="uncalibrated"):
        bundle.threshold("fpr_0.05")


def test_refuses_checkpoints_that_need_unpickling(tmp_path, cnndet_ckpt):
    _, state = cnndet_ckpt
    bad = tmp_path / "with_options.pth"
    torch.save({"model": state, "opt": argparse.Namespace(arch="res50")}, bad)
    with pytest.raises(BundleError, match="weights-only"):
        convert("CNNDetection", bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    evil = tmp_path / "evil.pth"
    torch.save({"model": _RunsCode(tmp_path / "ran")}, evil)
    with pytest.raises(BundleError, match="weights-only"):
        convert("CNNDetection", evil, tmp_path / "out")
    assert not (tmp_path / "ran").exists()  # the payload never executed


class _RunsCode:
    """Unpickling this would run code (create a file); the weights-only loader must refuse it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_wrong_layouts_are_named_errors(tmp_path, npr_ckpt, cnndet_ckpt):
    npr_path, npr_state = npr_ckpt
    with pytest.raises(BundleError, match="'model'"):
        convert("CNNDetection", npr_path, tmp_path / "x")  # bare state_dict, not {"model": ...}
    with pytest.raises(BundleError, match=r"conv1.weight.*\[64, 3, 7, 7\]|shape"):
        convert("NPR", cnndet_ckpt[0], tmp_path / "y")
    bad = tmp_path / "fc.pth"
    torch.save({"weight": torch.zeros(1, 512), "bias": torch.zeros(1)}, bad)
    with pytest.raises(BundleError, match=r"\[1, 768\]"):
        convert("UniversalFakeDetect", bad, tmp_path / "z")
    with pytest.raises(ConfigError, match="available"):
        convert("nope", bad, tmp_path / "w")


def test_zoo_lists_three_detectors():
    names = [e.name for e in ZOO]
    assert names == ["UniversalFakeDetect", "CNNDetection", "NPR"]
    assert all(e.licence and e.source.startswith("https://") for e in ZOO)


# ----------------------------------------------------------------- through scan, eval, report, calibrate


@pytest.fixture(scope="module")
def small_manifest(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("data")
    rows = ["path,label,source,split"]
    rng = np.random.default_rng(5)
    for i in range(8):
        label = "fake" if i % 2 else "real"
        im = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
        if label == "fake":
            im[::2, ::2] = 255 - im[::2, ::2]  # a crude upsampling-like pattern
        Image.fromarray(im).save(d / f"im{i}.png")
        rows.append(f"im{i}.png,{label},{'gen' if label == 'fake' else 'cam'},{'val' if i < 4 else 'test'}")
    (d / "manifest.csv").write_text("\n".join(rows) + "\n")
    return d / "manifest.csv"


@pytest.mark.filterwarnings("ignore:Only .* real images:RuntimeWarning")  # 2 val reals: tiny on purpose
@pytest.mark.parametrize("name", ["CNNDetection", "NPR", "UniversalFakeDetect"])
def test_converted_bundles_run_through_scan_eval_report(name, small_manifest, cnndet_ckpt, npr_ckpt, ufd_ckpt,
                                                        tiny_clip_l14_proj, tmp_path):
    from synthtrace.evaluation.evaluate import evaluate_detector
    from synthtrace.evaluation.scan_report import write_scan_report
    from synthtrace.tasks.scan import ScanOptions, scan_paths

    ckpt = {"CNNDetection": cnndet_ckpt, "NPR": npr_ckpt, "UniversalFakeDetect": ufd_ckpt}[name][0]
    kw = {"backbone": f"hf:{tiny_clip_l14_proj}"} if name == "UniversalFakeDetect" else {}
    convert(name, ckpt, tmp_path / "b", **kw)
    opts = ScanOptions(watermarks=False)
    results = scan_paths([small_manifest.parent], tmp_path / "b", opts)
    assert len(results) == 8 and all(r.error is None for r in results)
    assert all(r.detection is not None and r.detection.detector == name for r in results)
    report = write_scan_report(results, tmp_path / "r.html", parameters={"detector": name})
    assert name in report.read_text() or report.stat().st_size > 0
    res = evaluate_detector(tmp_path / "b", small_manifest, split="test", n_boot=20, progress=False)
    assert res["n_images"] == 4 and res["threshold"] == 0.0 and res["detector"] == name
    cal = calibrate_bundle(tmp_path / "b", small_manifest, split="val", out=tmp_path / "cal")
    assert cal.training["calibrated"] is True and {"fpr_0.01", "fpr_0.05"} <= set(cal.calibration.thresholds)
    again = DetectorBundle.from_pretrained(tmp_path / "cal")
    assert again.threshold("fpr_0.05") == cal.calibration.thresholds["fpr_0.05"]
