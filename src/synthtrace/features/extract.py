"""Images → feature matrix, with a thread pool feeding batched inference.

Why threads: Pillow decode/resize and numpy release the GIL, so decoding batch
k+1 overlaps the model running batch k without pickling arrays between
processes. Cache hits cost one file read + sha256; they are never decoded.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synthtrace.backbones.base import Backbone
from synthtrace.backbones.speed import FP32, Precision, configure_threads, resolve_precision
from synthtrace.errors import ConfigError, SynthtraceError, UnreadableImageError
from synthtrace.features.cache import CacheKey, FeatureCache, FeatureNamespace
from synthtrace.io.images import load_image, load_image_bytes

T = TypeVar("T")


@dataclass
class _Item:
    index: int
    sha256: str
    vector: np.ndarray | None = None  # cache hit
    pixels: np.ndarray | None = None  # miss: preprocessed (3, H, W)


def extract_features(
    images: Sequence[str | Path],
    backbone: Backbone,
    *,
    layer: str = "last",
    pooling: str = "cls",
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    refresh_cache: bool = False,
    progress: bool = True,
    num_workers: int = 2,
    precision: Precision = FP32,
    compile: bool = False,
    num_threads: int | None = None,
) -> np.ndarray:
    """Features for ``images`` in order, shape (N, D) float32.

    ``cache_dir`` enables the content-addressed cache (see ``features.cache``);
    ``refresh_cache`` recomputes and overwrites. ``num_workers=0`` decodes in the
    calling thread. Image errors are re-raised with the file named.

    Speed (``hf:`` backbones, see ``backbones/speed.py`` and docs/cpu-speed.md):
    ``precision`` fp32 (reference), bf16 (bfloat16 autocast; fp32 with a logged
    note on CPUs without native bfloat16) or int8 (dynamic quantisation of the
    linear layers), each optionally with token merging; ``compile=True`` runs a torch.compile'd forward pass, compiled
    once per backbone object and process. Cached vectors are keyed by the precision
    that actually ran, so fp32 and bf16 features never mix. ``num_threads`` sets
    torch's intra-op threads (None: leave them as they are).
    """
    backbone.validate(layer, pooling)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    precision = check_precision(backbone, precision)
    if num_threads is not None:
        configure_threads(num_threads)
    speed_kw = {} if precision.reference and not compile else {"precision": precision, "compile": compile}
    paths = [Path(p) for p in images]
    namespace: FeatureNamespace | None = None
    if cache_dir is not None:
        key = cache_key(backbone, layer=layer, pooling=pooling, precision=precision)
        namespace = FeatureCache(cache_dir).open(
            key, refresh=refresh_cache, details={"preprocess": backbone.preprocess.to_dict(), "precision": str(precision)}
        )
    if not paths:
        return np.zeros((0, _feature_dim(backbone, layer, pooling)), dtype=np.float32)

    use_cache = namespace is not None and not refresh_cache

    def prepare(i: int) -> _Item:
        path = paths[i]
        data = _read(path)
        sha = hashlib.sha256(data).hexdigest()
        if use_cache and namespace is not None and (vec := namespace.get(sha)) is not None:
            return _Item(i, sha, vector=vec)
        try:
            rgb = load_image_bytes(data, str(path)).rgb
            return _Item(i, sha, pixels=backbone.preprocess(rgb))
        except SynthtraceError:
            raise
        except Exception as exc:  # a decoder/preprocessing failure we did not anticipate
            raise UnreadableImageError(f"{path}: cannot be decoded or preprocessed ({exc}).") from exc

    out: np.ndarray | None = None

    def store(index: int, vec: np.ndarray) -> None:
        nonlocal out
        if out is None:
            out = np.empty((len(paths), vec.shape[-1]), dtype=np.float32)
        out[index] = vec

    def cached(item: _Item) -> bool:
        if item.vector is None:
            return False
        store(item.index, item.vector)
        return True

    def run_batch(pending: list[_Item]) -> None:
        # Group by shape: without a crop, images of different aspect ratios can't stack.
        groups: dict[tuple[int, ...], list[_Item]] = {}
        for item in pending:
            assert item.pixels is not None
            groups.setdefault(item.pixels.shape, []).append(item)
        for items in groups.values():
            batch = torch.from_numpy(np.stack([it.pixels for it in items]))  # type: ignore[misc]
            feats = backbone.embed(batch, layer=layer, pooling=pooling, **speed_kw).cpu().numpy()
            for it, vec in zip(items, feats):
                store(it.index, vec)
                if namespace is not None:
                    namespace.put(it.sha256, vec)

    label = f"features {backbone.id} [{layer}/{pooling}{'' if precision.reference else f'/{precision}'}]"
    with _progress_bar(len(paths), enabled=progress, label=label) as advance:
        _feed_batches(_ordered(prepare, len(paths), num_workers, lookahead=2 * batch_size),
                      batch_size, run_batch, advance, cached=cached)
    assert out is not None
    return out


def cache_key(backbone: Backbone, *, layer: str, pooling: str, precision: Precision = FP32) -> CacheKey:
    """The feature-cache key for (backbone, layer, pooling) at ``precision``.

    fp32 keeps the key it always had (existing caches stay valid); any other
    precision is folded into the backbone id, which names a separate namespace
    folder, so reduced-precision vectors can never be served to an fp32 request
    or the reverse.
    """
    key = CacheKey.for_backbone(backbone, layer=layer, pooling=pooling)
    return key if precision.reference else replace(key, backbone_id=f"{key.backbone_id}@{precision}")


def check_precision(backbone: Backbone, precision: Precision) -> Precision:
    """The precision that will run on ``backbone`` (bf16 may fall back to fp32); ConfigError
    if the backbone has no such fast path."""
    valid = backbone.precisions()
    if str(precision) not in valid:
        raise ConfigError(
            f"backbone {backbone.id!r} runs at precision {valid} only, not {precision!r}; "
            "the bf16/int8 fast path is for hf: backbones."
        )
    return resolve_precision(precision)


def _feed_batches(
    items: Iterable[T],
    batch_size: int,
    run_batch: Callable[[list[T]], None],
    advance: Callable[..., None],
    *,
    cached: Callable[[T], bool] = lambda _: False,
) -> None:
    """Run ``run_batch`` on consecutive batches of the items ``cached`` did not already handle,
    reporting progress (cache hits at once, misses as their batch finishes)."""
    pending: list[T] = []
    for item in items:
        if cached(item):
            advance(1, hit=True)
            continue
        pending.append(item)
        if len(pending) >= batch_size:
            run_batch(pending)
            advance(len(pending), hit=False)
            pending = []
    if pending:
        run_batch(pending)
        advance(len(pending), hit=False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        load_image(path)  # raises UnreadableImageError with the precise reason and the path
        raise


def _ordered(fn: Callable[[int], _Item], n: int, workers: int, *, lookahead: int) -> Iterator[_Item]:
    """fn(0..n-1) in order; with workers > 0, at most ``lookahead`` run ahead (bounded memory)."""
    if workers <= 0:
        yield from (fn(i) for i in range(n))
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthtrace-decode")
    queue: deque[Future[_Item]] = deque()
    try:
        for i in range(n):
            queue.append(pool.submit(fn, i))
            if len(queue) > lookahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _progress_bar:
    """A rich progress bar with a cache-hit count, or a no-op."""

    def __init__(self, total: int, *, enabled: bool, label: str) -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self.hits = 0

    def __enter__(self) -> Callable[..., None]:
        if not self.enabled:
            return lambda n, hit: None
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[hits]} cached"), TimeRemainingColumn(),
        )
        self.bar.__enter__()
        task = self.bar.add_task(escape(self.label), total=self.total, hits=0)

        def advance(n: int, hit: bool) -> None:
            self.hits += n if hit else 0
            self.bar.update(task, advance=n, hits=self.hits)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(None, None, None)


def _feature_dim(backbone: Backbone, layer: str, pooling: str) -> int:
    """D for an empty input list, from one blank image of the model's input size."""
    side = backbone.preprocess.crop or backbone.preprocess.resize or 224
    return int(backbone.embed(torch.zeros(1, 3, side, side), layer=layer, pooling=pooling).shape[-1])
