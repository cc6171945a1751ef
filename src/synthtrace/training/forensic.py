"""Training data for the forensic detector with the classes' file histories matched.

On real data the classes differ in ways that have nothing to do with how the pixels
were made: camera photos were JPEGs before anyone cropped them, generator outputs are
mostly PNG; camera photos are soft at their native resolution, generator outputs are
crisp (docs/real-world.md, "traps"). A detector trained on the files as they come
learns "JPEG history means camera". Each training image is therefore turned into one
or more *views* that carry the same kinds of history whatever the class:

1. a resize to 30-80 % (as shared copies are), more often for photos, whose native
   resolution is what makes them soft;
2. generated images are JPEG-saved at camera-like qualities, so that both classes
   usually carry a first JPEG save;
3. a crop of 256, 384 or 512 pixels at a random offset, so JPEG block grids land
   anywhere, as in a crop of a shared image;
4. half the views of either class are saved once more as JPEG at quality 90.

Every random choice comes from the file's path and the view number, so a rebuild
gives the same views. Generated images are capped per family (``max_per_family``),
chosen by a hash of the path.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from synthtrace.errors import ConfigError, SynthtraceError, reject_unknown_keys
from synthtrace.features.forensic import FEATURE_NAMES, forensic_features
from synthtrace.io.images import load_image
from synthtrace.io.manifest import Manifest

__all__ = ["HistoryMatching", "ManifestViews", "manifest_views", "matched_view", "view_features"]


@dataclass(frozen=True)
class HistoryMatching:
    """The view recipe (module docstring); recorded in the bundle's training section."""

    real_resize: float = 0.4  # share of camera views resized
    fake_resize: float = 0.2
    resize_range: tuple[float, float] = (0.3, 0.8)
    fake_jpeg: float = 0.7  # share of generated views JPEG-saved before cropping
    fake_jpeg_quality: tuple[int, int] = (70, 97)
    crops: tuple[int, ...] = (256, 384, 512)
    resave: float = 0.5  # share of views (both classes) saved again as JPEG
    resave_quality: int = 90
    balance_views: bool = True  # more views per image for the smaller class, up to 4
    # at most this many generated images of one family (chosen by a hash of the path), so that
    # one prolific source does not make up the class; None keeps every image
    max_per_family: int | None = 400

    def __post_init__(self) -> None:
        for name in ("real_resize", "fake_resize", "fake_jpeg", "resave"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"history matching: {name}={getattr(self, name)!r}, expected a share in 0..1")
        lo, hi = self.resize_range
        if not 0.05 <= lo <= hi <= 1.0:
            raise ConfigError(f"history matching: resize_range={self.resize_range!r}, expected 0.05 <= low <= high <= 1")
        qlo, qhi = self.fake_jpeg_quality
        if not 1 <= qlo <= qhi <= 100 or not 1 <= self.resave_quality <= 100:
            raise ConfigError("history matching: JPEG qualities must lie in 1..100 (low <= high)")
        if self.max_per_family is not None and self.max_per_family < 1:
            raise ConfigError(f"history matching: max_per_family={self.max_per_family!r}, expected >= 1 or None")
        if not self.crops or min(self.crops) < 64:
            raise ConfigError(f"history matching: crops={self.crops!r}, expected sizes of at least 64 pixels")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> HistoryMatching:
        reject_unknown_keys(cls, d, "history matching")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def matched_view(rgb: np.ndarray, label: str, key: str, view: int, recipe: HistoryMatching = HistoryMatching()) -> np.ndarray:
    """One history-matched view (uint8 RGB) of a decoded training image; deterministic in ``key`` and ``view``."""
    rng = np.random.default_rng(zlib.crc32(f"{key}#{view}".encode()))
    im = Image.fromarray(np.asarray(rgb)[..., :3])
    if rng.random() < (recipe.real_resize if label == "real" else recipe.fake_resize):
        s = rng.uniform(*recipe.resize_range)
        im = im.resize((max(64, round(im.width * s)), max(64, round(im.height * s))), Image.BICUBIC)
    if label == "fake" and rng.random() < recipe.fake_jpeg:
        lo, hi = recipe.fake_jpeg_quality
        im = _jpeg(im, int(rng.integers(lo, hi + 1)))
    side = int(rng.choice(recipe.crops))
    cw, ch = min(side, im.width), min(side, im.height)
    left, top = int(rng.integers(0, im.width - cw + 1)), int(rng.integers(0, im.height - ch + 1))
    im = im.crop((left, top, left + cw, top + ch))
    if rng.random() < recipe.resave:
        im = _jpeg(im, recipe.resave_quality)
    return np.asarray(im)


def _one(task: tuple[str, str, int, dict]) -> tuple[np.ndarray | None, str | None]:
    path, label, views, recipe = task
    try:
        rgb = load_image(path).rgb
        rec = HistoryMatching.from_dict(recipe)
        return np.stack([forensic_features(matched_view(rgb, label, path, v, rec)) for v in range(views)]), None
    except SynthtraceError as exc:
        return None, f"{path}: {exc}"


def views_per_image(labels: Sequence[str], recipe: HistoryMatching) -> dict[str, int]:
    """Views per image of each class: 1, or up to 4 for the smaller class so both weigh alike."""
    n_real, n_fake = sum(lab == "real" for lab in labels), sum(lab == "fake" for lab in labels)
    if not recipe.balance_views or not n_real or not n_fake:
        return {"real": 1, "fake": 1}
    ratio = n_fake / n_real
    return {"real": int(min(4, max(1, round(ratio)))), "fake": int(min(4, max(1, round(1 / ratio))))}


def view_features(
    paths: Sequence[str], labels: Sequence[str], recipe: HistoryMatching = HistoryMatching(), *,
    workers: int | None = None, on_done: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features of every view: (X, the index of the input each row is a view of, skipped
    files with the reason). A file that cannot be decoded is skipped and named, never fatal."""
    views = views_per_image(labels, recipe)
    tasks = [(str(p), lab, views[lab], recipe.to_dict()) for p, lab in zip(paths, labels)]
    rows, index, skipped = [], [], []
    workers = workers or min(os.cpu_count() or 1, 8)
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        results = pool.map(_one, tasks, chunksize=4) if pool else map(_one, tasks)
        for i, (feats, err) in enumerate(results):
            if on_done:
                on_done(1)
            if feats is None:
                skipped.append(err or "unknown error")
                continue
            rows.append(feats)
            index += [i] * len(feats)
    finally:
        if pool:
            pool.shutdown()
    X = np.concatenate(rows) if rows else np.zeros((0, len(FEATURE_NAMES)), np.float32)
    return X, np.asarray(index, int), skipped


@dataclass(frozen=True)
class ManifestViews:
    """Features of the history-matched views of a manifest's images, with each view's row facts."""

    X: np.ndarray
    y: np.ndarray  # 1 = generated
    family: np.ndarray  # the row's family, or its source when the family is empty
    split: np.ndarray
    skipped: tuple[str, ...] = ()


def capped(manifest: Manifest, max_per_family: int | None) -> Manifest:
    """The manifest with at most ``max_per_family`` generated rows per family (family, else
    source), chosen by the sha1 of the path so the choice survives rebuilds; photos all kept."""
    if max_per_family is None:
        return manifest
    by_family: dict[str, list] = {}
    for r in manifest:
        if r.label == "fake":
            by_family.setdefault(r.family or r.source, []).append(r)
    keep = {id(r) for rows in by_family.values()
            for r in sorted(rows, key=lambda r: hashlib.sha1(r.path.encode()).hexdigest())[:max_per_family]}
    return Manifest(manifest.root, tuple(r for r in manifest if r.label != "fake" or id(r) in keep))


def manifest_views(
    manifest: Manifest, recipe: HistoryMatching = HistoryMatching(), *, cache_dir: str | Path | None = None,
    workers: int | None = None, on_done: Callable[[int], None] | None = None,
) -> ManifestViews:
    """``view_features`` of every row without a mask, cached in ``cache_dir`` under a key of the
    manifest's digest and the recipe (a rebuilt cache with other bytes gets another key)."""
    m = capped(manifest.where(mask_path=""), recipe.max_per_family)
    key = hashlib.sha256((m.digest() + json.dumps(recipe.to_dict(), sort_keys=True)).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"views-{key}.npz" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            return ManifestViews(z["X"], z["y"].astype(int), z["family"], z["split"])
    rows = list(m)
    labels = [r.label for r in rows]
    X, index, skipped = view_features([m.path_of(r) for r in rows], labels, recipe, workers=workers, on_done=on_done)
    views = ManifestViews(X, np.array([labels[i] == "fake" for i in index], int),
                          np.array([rows[i].family or rows[i].source for i in index]),
                          np.array([rows[i].split for i in index]), tuple(skipped))
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, X=views.X, y=views.y, family=views.family, split=views.split)
    return views
