"""The CPU fast path for transformer backbones: precision, torch.compile, threads.

``precision``:

- ``"fp32"``: the reference; what every feature cache and bundle was built on before.
- ``"bf16"``: bfloat16 autocast. Matrix multiplies and attention run in bfloat16
  (oneDNN's AVX512-BF16 / AMX kernels), LayerNorm, softmax and the pooled output stay
  float32. Autocast rather than a bfloat16 copy of the weights: no second copy of the
  model, and the norms keep float32 accuracy. Only used where the CPU has native
  bfloat16 dot products (``avx512_bf16`` or ``amx_bf16``); elsewhere it would be
  emulated and slower than float32, so it falls back to fp32 with a logged note.
- ``"int8"``: dynamic int8 quantisation of every ``nn.Linear`` (weights int8 per
  tensor, activations quantised per batch), float32 everywhere else. Built on
  ``torch.ao.quantization.quantize_dynamic``, which PyTorch has deprecated in favour
  of torchao; it still works in this torch and needs no extra package.

``compile=True`` wraps the forward pass (model + layer selection + pooling) in
``torch.compile`` with inductor's freezing (weights folded as constants, oneDNN
weight prepacking). Compiling costs tens of seconds to minutes, so the compiled
function is built once per (backbone object, precision) and kept on the backbone;
its first-call time is recorded in :attr:`FastForward.compile_seconds`. Inputs are
padded to the batch size it was first compiled for, so a short last batch does not
trigger a second compilation.

``"<base>+tome<r>"`` (``bf16+tome16``, ``int8+tome8``, ``fp32+tome12``; ``"<base>+tome"``
= r ``token_merging.DEFAULT_R``): the base precision plus token merging (ToMe) in
every block of an ``hf:`` ViT or CLIP tower, ``backbones/token_merging.py``. Fewer
tokens per block, so less work per image; features move further from float32 than
bf16 alone does. Only the r values in :data:`TOME_R` are names here (the precision
string is the feature-cache namespace); other schedules go through ``ToMeConfig``.

Agreement with float32 is checked by ``synthtrace.training.fastpath``.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import torch

from synthtrace.backbones.token_merging import DEFAULT_R, ToMeConfig, merged_features
from synthtrace.errors import ConfigError

logger = logging.getLogger(__name__)

BASE_PRECISIONS = ("fp32", "bf16", "int8")
TOME_R = (4, 8, 12, 16, 18, 20)  # the token-merging r values that have precision names
PRECISIONS = BASE_PRECISIONS + tuple(
    f"{b}+tome{r}" for b in BASE_PRECISIONS for r in ("", *TOME_R)
)


@dataclass(frozen=True)
class Precision:
    """How a forward pass runs: ``dtype`` ("fp32", "bf16", "int8") and ToMe's ``tome_r``
    (None: no token merging). Parsed once from its name (:meth:`parse`), at the edge."""

    dtype: str = "fp32"
    tome_r: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in BASE_PRECISIONS or (self.tome_r is not None and self.tome_r not in TOME_R):
            raise ConfigError(f"precision {str(self)!r} is not supported; expected one of {list(PRECISIONS)}.")

    @classmethod
    def parse(cls, name: str | Precision) -> Precision:
        """``"bf16+tome16"`` → Precision("bf16", 16); ``"<base>+tome"`` names DEFAULT_R."""
        if isinstance(name, Precision):
            return name
        base, plus, extra = str(name).partition("+")
        if plus and not (extra.startswith("tome") and (extra[4:] == "" or extra[4:].isdigit())):
            raise ConfigError(f"precision {name!r} is not supported; expected one of {list(PRECISIONS)}.")
        r = (int(extra[4:]) if extra[4:] else DEFAULT_R) if plus else None
        if base not in BASE_PRECISIONS or (r is not None and r not in TOME_R):
            raise ConfigError(f"precision {name!r} is not supported; expected one of {list(PRECISIONS)}.")
        return cls(base, r)

    def __str__(self) -> str:
        return self.dtype if self.tome_r is None else f"{self.dtype}+tome{self.tome_r}"

    @property
    def reference(self) -> bool:
        """The float32 reference (what every cache and bundle was built on)."""
        return self.dtype == "fp32" and self.tome_r is None


FP32 = Precision()


@lru_cache(maxsize=1)
def cpu_bf16_native() -> bool:
    """True when this CPU has native bfloat16 dot products (AVX512-BF16 or AMX-BF16).

    oneDNN also runs bfloat16 on plain AVX512 by emulation, which is slower than
    float32; "supported" here means "fast".
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: trust oneDNN's own check
        flags = None
    if flags is not None and not {"avx512_bf16", "amx_bf16"} & set(flags):
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_fallback_noted = False


def resolve_precision(precision: Precision) -> Precision:
    """The precision that will actually run: ``bf16`` becomes ``fp32`` (with a logged note)
    on a CPU without native bfloat16."""
    global _fallback_noted
    if precision.dtype == "bf16" and not cpu_bf16_native():
        if _fallback_noted:  # once per process, not once per batch
            return replace(precision, dtype="fp32")
        _fallback_noted = True
        logger.warning(
            "precision bf16 requested but this CPU has no native bfloat16 (avx512_bf16/amx_bf16); "
            "using fp32 instead (emulated bfloat16 would be slower)."
        )
        return replace(precision, dtype="fp32")
    return precision


def available_cores() -> int:
    """CPU cores this process may run on (affinity/cgroup aware where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_interop_set = False


def configure_threads(num_threads: int | None = None, interop_threads: int | None = None) -> dict[str, int]:
    """Use every core for intra-op parallelism; return the settings now in force.

    ``num_threads`` defaults to the cores available to this process. Inter-op
    threads (parallel independent ops) help little for one ViT forward pass; they
    default to 1 so they do not compete with the intra-op threads and the decode
    threads. PyTorch allows setting them only once per process, before any
    parallel work; later calls leave them as they are.
    """
    global _interop_set
    n = num_threads or available_cores()
    if n < 1:
        raise ConfigError(f"num_threads must be >= 1, got {n}.")
    torch.set_num_threads(n)
    if not _interop_set:
        try:
            torch.set_num_interop_threads(interop_threads or 1)
        except RuntimeError:  # already started or already set: keep PyTorch's value
            pass
        _interop_set = True
    return {"num_threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every nn.Linear dynamically quantised to int8."""
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated (torchao replaces it); it still works here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


class FastForward:
    """``fn(model, pixels) -> features`` run at one precision, optionally compiled.

    Built by :func:`fast_forward`, which caches it per backbone; call it under
    ``torch.inference_mode()``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        fn: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
        *,
        precision: Precision,
        compile: bool,
    ) -> None:
        self.precision, self.compiled = precision, compile
        self.model = model  # already quantised for int8 (see fast_forward)
        self._fn = fn
        self._call: Callable[[torch.Tensor], torch.Tensor] = self._eager
        if compile:
            # freezing: weights become constants, so inductor prepacks them for oneDNN.
            self._call = torch.compile(self._eager, dynamic=False, options={"freezing": True})
        self.batch: int | None = None  # the batch size compiled for
        self.compile_seconds: float | None = None
        self._lock = threading.Lock()

    def _eager(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.precision.dtype == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._fn(self.model, pixels).float()
        return self._fn(self.model, pixels).float()

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        if not self.compiled:
            return self._call(pixels)
        with self._lock:  # one compilation, and compiled graphs are not re-entrant-safe
            n = pixels.shape[0]
            if self.batch is None:
                self.batch = n
                t0 = time.perf_counter()
                out = self._call(pixels)
                self.compile_seconds = time.perf_counter() - t0
                return out
            b = self.batch
            chunks = []
            for start in range(0, n, b):
                part = pixels[start : start + b]
                k = part.shape[0]
                if k < b:  # pad: one compiled shape serves every batch size
                    part = torch.cat([part, part.new_zeros((b - k, *part.shape[1:]))])
                chunks.append(self._call(part)[:k])
            return torch.cat(chunks)


def fast_forward(
    backbone: Any,
    fn: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor],
    *,
    precision: Precision,
    compile: bool,
    key: Any = None,
) -> FastForward:
    """The cached :class:`FastForward` of ``backbone`` for (precision, compile, key).

    Kept on the backbone object, so it lives exactly as long as the loaded weights
    and compilation is paid once per process per backbone. ``key`` distinguishes
    different ``fn`` (e.g. layer and pooling).
    """
    cache: dict[tuple[Any, ...], FastForward] = backbone.__dict__.setdefault("_fast_forwards", {})
    k = (precision, compile, key)
    if k not in cache:
        model = backbone.model
        if precision.tome_r is not None:
            # Token merging changes the token count and makes mean pooling size-weighted, so
            # the backbone's own feature function cannot run it; key is (layer, pooling).
            layer, pooling = key
            tome = ToMeConfig(r=precision.tome_r)
            fn = lambda m, px: merged_features(backbone, m, px, layer=layer, pooling=pooling, config=tome)  # noqa: E731
        if precision.dtype == "int8":  # quantise once per backbone; keys share the int8 copy
            if next(model.parameters()).device.type != "cpu":
                raise ConfigError(f"precision {str(precision)!r} (dynamic int8 quantisation) runs on CPU only.")
            model = next((f.model for (p, _, _), f in cache.items() if p.dtype == "int8"), None) \
                or quantize_int8(model)
        cache[k] = FastForward(model, fn, precision=precision, compile=compile)
    return cache[k]


def compile_seconds(backbone: Any) -> dict[str, float]:
    """First-call (compile) seconds of every compiled fast path of ``backbone``, by label."""
    out = {}
    for (precision, compiled, key), ff in backbone.__dict__.get("_fast_forwards", {}).items():
        if compiled and ff.compile_seconds is not None:
            out[f"{precision}/{key}" if key is not None else str(precision)] = ff.compile_seconds
    return out
