"""The CPU fast path: bf16 / int8 closeness to fp32, fallback, compile caching and padding.

Tolerances, never timings (speed lives in benchmarks/feature_throughput.py).
torch.compile itself is replaced by a counting stand-in here: compiling even a tiny
ViT takes tens of seconds on a loaded 2-core machine; the benchmark compiles for real.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from synthtrace.backbones import create_backbone, speed
from synthtrace.backbones.speed import Precision, PRECISIONS, configure_threads, cpu_bf16_native, resolve_precision
from synthtrace.errors import ConfigError


def _pixels(backbone, n: int, seed: int = 0) -> torch.Tensor:
    side = backbone.preprocess.crop or backbone.preprocess.resize
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, side, side, generator=g)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).norm(dim=1) / a.norm(dim=1)).max())


@pytest.fixture()
def native_bf16(monkeypatch):
    """Pretend the CPU has native bfloat16, so the bf16 numerics are tested on any CPU."""
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)


@pytest.mark.parametrize("kind", ["vit", "clip", "dinov2", "siglip"])
def test_bf16_features_close_to_fp32(tiny_dirs, kind, native_bf16):
    bb = create_backbone(f"hf:{tiny_dirs[kind]}")
    x = _pixels(bb, 4)
    for pooling in bb.poolings():
        ref = bb.embed(x, pooling=pooling)
        fast = bb.embed(x, pooling=pooling, precision=Precision.parse("bf16"))
        assert fast.dtype == torch.float32 and fast.shape == ref.shape
        assert not torch.equal(fast, ref), "bf16 path ran in float32"
        # bfloat16 keeps 8 mantissa bits: ~0.4 % per op, a few % after a (tiny) network.
        assert _rel(ref, fast) < 0.05, (kind, pooling, _rel(ref, fast))


def test_bf16_intermediate_layer_close(tiny_dirs, native_bf16):
    bb = create_backbone(f"hf:{tiny_dirs['vit']}")
    x = _pixels(bb, 3)
    for layer in ("0", "1", "last"):
        ref, fast = bb.embed(x, layer=layer, pooling="mean"), bb.embed(x, layer=layer, pooling="mean", precision=Precision.parse("bf16"))
        assert _rel(ref, fast) < 0.05


def test_int8_close_and_original_weights_untouched(tiny_dirs):
    bb = create_backbone(f"hf:{tiny_dirs['clip']}")
    x = _pixels(bb, 4)
    before = bb.weights_hash()
    ref = bb.embed(x, pooling="embeds")
    q = bb.embed(x, pooling="embeds", precision=Precision.parse("int8"))
    assert _rel(ref, q) < 0.1
    assert not torch.equal(ref, q)
    bb._weights_hash = None
    assert bb.weights_hash() == before, "quantisation must work on a copy"
    assert all(type(m) is not torch.nn.Linear or m.weight.dtype == torch.float32 for m in bb.model.modules())
    # fp32 after int8 is still the reference path
    assert torch.equal(bb.embed(x, pooling="embeds"), ref)


def test_bf16_falls_back_to_fp32_without_native_support(tiny_dirs, monkeypatch, caplog):
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr(speed, "_fallback_noted", False)
    with caplog.at_level(logging.WARNING, logger="synthtrace.backbones.speed"):
        assert resolve_precision(Precision("bf16")) == Precision("fp32")
    assert "no native bfloat16" in caplog.text
    bb = create_backbone(f"hf:{tiny_dirs['vit']}")
    x = _pixels(bb, 2)
    assert torch.equal(bb.embed(x, precision=Precision.parse("bf16")), bb.embed(x))


def test_unknown_precision_is_a_config_error(tiny_dirs):
    bb = create_backbone(f"hf:{tiny_dirs['vit']}")
    with pytest.raises(ConfigError, match="fp16.*expected one of"):
        bb.embed(_pixels(bb, 1), precision=Precision.parse("fp16"))
    assert bb.precisions() == list(PRECISIONS)


def test_cpu_bf16_detection_matches_cpuinfo():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        assert cpu_bf16_native() is False
    else:
        assert cpu_bf16_native() is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class _CountingCompile:
    """Stands in for torch.compile: counts compilations, returns the function unchanged
    but records every input shape it is called with (one compiled shape expected)."""

    def __init__(self) -> None:
        self.compiles, self.shapes = 0, []

    def __call__(self, fn, **kwargs):
        self.compiles += 1
        assert kwargs.get("options", {}).get("freezing") is True

        def run(x):
            self.shapes.append(tuple(x.shape))
            return fn(x)

        return run


def test_compile_once_per_backbone_and_pad_to_one_shape(tiny_dirs, monkeypatch, native_bf16):
    fake = _CountingCompile()
    monkeypatch.setattr(torch, "compile", fake)
    bb = create_backbone(f"hf:{tiny_dirs['vit']}")
    x = _pixels(bb, 11)
    eager = bb.embed(x, precision=Precision.parse("bf16"))
    first = bb.embed(x[:4], precision=Precision.parse("bf16"), compile=True)  # compiles for batch 4
    rest = [bb.embed(x[i : i + 4], precision=Precision.parse("bf16"), compile=True) for i in (4, 8)]  # 4, then 3 (padded)
    big = bb.embed(x, precision=Precision.parse("bf16"), compile=True)  # 11 → chunks of 4
    assert fake.compiles == 1
    assert set(fake.shapes) == {(4, *x.shape[1:])}
    got = torch.cat([first, *rest])
    assert got.shape == eager.shape and big.shape == eager.shape
    # padding must not change any image's features (rows are independent)
    torch.testing.assert_close(got, eager, rtol=0, atol=1e-5)
    torch.testing.assert_close(big, eager, rtol=0, atol=1e-5)
    ff = bb._fast_forwards[(Precision("bf16"), True, ("last", "cls"))]
    assert ff.batch == 4 and ff.compile_seconds is not None
    assert set(speed.compile_seconds(bb)) == {"bf16/('last', 'cls')"}
    # another precision is another compiled function; the same one is reused
    bb.embed(x[:2], precision=Precision.parse("int8"), compile=True)
    bb.embed(x[:2], precision=Precision.parse("bf16"), compile=True)
    assert fake.compiles == 2


def test_configure_threads_uses_requested_cores():
    before = torch.get_num_threads()
    try:
        got = configure_threads(1)
        assert got["num_threads"] == 1 and got["interop_threads"] >= 1
        assert configure_threads()["num_threads"] == speed.available_cores()
        with pytest.raises(ConfigError):
            configure_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_int8_rejects_nothing_on_cpu_and_features_deterministic(tiny_dirs):
    bb = create_backbone(f"hf:{tiny_dirs['dinov2']}")
    x = _pixels(bb, 2)
    a, b = bb.embed(x, precision=Precision.parse("int8")), bb.embed(x, precision=Precision.parse("int8"))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
