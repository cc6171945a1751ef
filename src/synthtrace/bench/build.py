"""Build the benchmark: scenes → real and fake twins (+ splices) → one shared encoder.

Every scene is rendered once at 2x and photographed by a camera (the real twin)
and decoded by a generator (the fake twin), so reals and fakes are content
matched. Splits are by scene; held-out generators and cameras appear only in the
test split. Each scene is seeded from (build seed, scene index) alone, so the
output is byte-identical whatever the number of worker processes.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from synthtrace.errors import ConfigError, reject_unknown_keys
from synthtrace.io.manifest import ManifestRow, write_manifest

from .cameras import CAMERAS, HELD_OUT_CAMERAS, SEEN_CAMERAS, blur, box_down2, capture
from .generators import ALL_GENERATORS, GeneratorSpec, generate
from .scenes import render_scene
from .seeding import stable_seed
from .splices import random_region, splice

# Fingerprint gain per generator and encoder, frozen offline by
# benchmarks/calibrate_bench.py (--encode jpeg / png) so that each generator's fakes
# have the same mean file size as reals under the build's encoder (standard
# preset): file size must not reveal the label. Fakes also carry camera-like noise
# at FAKE_NOISE_GAIN times reals' level for the same ISO.
FINGERPRINT_GAIN: dict[str, dict[str, float]] = {
    "jpeg": {
        "tconv-s0": 0.899, "tconv-s1": 1.007, "tconv-s2": 0.932,
        "nearest-s0": 0.883, "nearest-s1": 0.879, "nearest-s2": 0.956,
        "bilinear-s0": 1.006, "bilinear-s1": 1.073, "bilinear-s2": 0.656,
        "pixelshuffle-s0": 1.074, "pixelshuffle-s1": 0.803, "pixelshuffle-s2": 1.193,
        "ldm-s0": 1.437, "ldm-s1": 1.582, "ldm-s2": 1.29,
    },
    "png": {
        "tconv-s0": 0.44, "tconv-s1": 0.435, "tconv-s2": 0.421,
        "nearest-s0": 0.468, "nearest-s1": 0.459, "nearest-s2": 0.474,
        "bilinear-s0": 0.356, "bilinear-s1": 0.42, "bilinear-s2": 0.41,
        "pixelshuffle-s0": 0.459, "pixelshuffle-s1": 0.351, "pixelshuffle-s2": 0.442,
        "ldm-s0": 1.213, "ldm-s1": 1.252, "ldm-s2": 1.173,
    },
}
FAKE_NOISE_GAIN = 0.65

# Difficulty presets: the fingerprint's amplitude (high-pass std, [0, 1] pixel
# units) and how often the shared platform-style post-processing (resize down and
# back, mild blur) is applied to every class.
DIFFICULTY = {
    "easy": {"amplitude": 0.03, "postprocess": 0.0},
    "standard": {"amplitude": 0.02, "postprocess": 0.3},
    "hard": {"amplitude": 0.012, "postprocess": 0.6},
}
SPLITS = ("train", "val", "test")  # 60 / 20 / 20 % of the seen generators' scenes


@dataclass(frozen=True)
class BenchConfig:
    """How to build the benchmark. ``per_source`` fakes per generator, each with its real twin."""

    size: int = 128
    per_source: int = 100
    seed: int = 0
    encode: str = "jpeg:85-98"  # "jpeg:LO-HI" | "png" | "confounded" (the PNG-fakes trap, on purpose)
    difficulty: str = "standard"
    splice_fraction: float = 0.15
    # 0: one fake per scene (the default build). k > 0: semantic clusters (spec §5):
    # each scene's real twin plus fakes from k generators share a cluster_id.
    clusters: int = 0

    def __post_init__(self) -> None:
        if self.size < 32 or self.size % 16:
            raise ConfigError(f"size={self.size}: expected a multiple of 16, at least 32 (e.g. 128)")
        if self.per_source < 1:
            raise ConfigError(f"per_source={self.per_source}: expected at least 1")
        if self.difficulty not in DIFFICULTY:
            raise ConfigError(f"difficulty={self.difficulty!r}: expected one of {', '.join(DIFFICULTY)}")
        if not 0 <= self.clusters <= len(ALL_GENERATORS):
            raise ConfigError(f"clusters={self.clusters}: expected 0 (off) or 1-{len(ALL_GENERATORS)} fakes per cluster")
        if not 0 <= self.splice_fraction <= 1:
            raise ConfigError(f"splice_fraction={self.splice_fraction}: expected a value in [0, 1]")
        self.quality_range()  # validates ``encode``

    def quality_range(self) -> tuple[int, int] | None:
        """JPEG quality range, or None for lossless PNG."""
        if self.encode in ("png", "confounded"):
            return None if self.encode == "png" else (85, 98)
        try:
            kind, rng = self.encode.split(":")
            lo, hi = (int(v) for v in rng.split("-"))
        except ValueError:
            kind, lo, hi = "", 0, 0
        if kind != "jpeg" or not 1 <= lo <= hi <= 100:
            raise ConfigError(
                f"encode={self.encode!r}: expected 'jpeg:LO-HI' (e.g. jpeg:85-98), 'png' or 'confounded'"
            )
        return lo, hi

    @classmethod
    def from_dict(cls, d: dict) -> BenchConfig:
        reject_unknown_keys(cls, d, "bench config")
        return cls(**d)


@dataclass(frozen=True)
class ScenePlan:
    index: int
    generator: GeneratorSpec
    split: str
    camera: str
    with_splice: bool
    cluster: tuple[GeneratorSpec, ...] = ()  # cluster builds: every generator of the cluster

    @property
    def scene_id(self) -> str:
        return f"s{self.index:06d}"


def plan_scenes(cfg: BenchConfig) -> list[ScenePlan]:
    """Assign every scene its generator, split and camera (cheap; no rendering)."""
    if cfg.clusters:
        return _plan_clusters(cfg)
    plans = []
    n = cfg.per_source * len(ALL_GENERATORS)
    for i in range(n):
        gen = ALL_GENERATORS[i % len(ALL_GENERATORS)]
        # One generator per scene for all plan draws: crc32 seeds of names that
        # differ only in a prefix are linearly related, so separate stable_seed()
        # draws for split, camera and splice would be correlated.
        u_split, u_camera, u_splice = np.random.default_rng(stable_seed("plan", cfg.seed, i)).random(3)
        split = "test" if not gen.seen or u_split >= 0.8 else "val" if u_split >= 0.6 else "train"
        cams = SEEN_CAMERAS + HELD_OUT_CAMERAS if split == "test" else SEEN_CAMERAS
        camera = cams[int(u_camera * len(cams))]
        with_splice = bool(u_splice < cfg.splice_fraction)
        plans.append(ScenePlan(i, gen, split, camera, with_splice))
    return plans


def _plan_clusters(cfg: BenchConfig) -> list[ScenePlan]:
    """Cluster builds: about per_source fakes per generator, ``clusters`` generators per scene.

    Held-out generators stay out of train and val: test clusters draw from every
    generator, the others from the seen ones only. No splices.
    """
    seen = [g for g in ALL_GENERATORS if g.seen]
    n = -(-cfg.per_source * len(ALL_GENERATORS) // cfg.clusters)
    plans = []
    for i in range(n):
        rng = np.random.default_rng(stable_seed("cluster-plan", cfg.seed, i))
        u_split, u_camera = rng.random(2)
        split = "test" if u_split >= 0.8 else "val" if u_split >= 0.6 else "train"
        pool = list(ALL_GENERATORS) if split == "test" else seen
        chosen = tuple(pool[j] for j in sorted(rng.choice(len(pool), size=min(cfg.clusters, len(pool)), replace=False)))
        cams = SEEN_CAMERAS + HELD_OUT_CAMERAS if split == "test" else SEEN_CAMERAS
        plans.append(ScenePlan(i, chosen[0], split, cams[int(u_camera * len(cams))], False, chosen))
    return plans


def postprocess(img: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Platform-style processing shared by every class: resize down and back, or mild blur."""
    if rng.uniform() >= p:
        return img
    if rng.uniform() < 0.5:
        size = img.shape[0]
        small = max(8, int(round(size * rng.uniform(0.5, 0.9))))
        pil = Image.fromarray(to_uint8(img))
        pil = pil.resize((small, small), Image.BILINEAR).resize((size, size), Image.BILINEAR)
        return np.asarray(pil, dtype=np.float32) / 255.0
    return blur(img, rng.uniform(0.3, 0.7))


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def encode(img: np.ndarray, cfg: BenchConfig, rng: np.random.Generator, label: str) -> tuple[bytes, str]:
    """The one final encoding stage every class goes through."""
    pil = Image.fromarray(to_uint8(img))
    buf = io.BytesIO()
    qr = cfg.quality_range()
    # Draw the quality even for PNG so the rng stream does not depend on the format.
    quality = int(rng.integers(qr[0], qr[1] + 1)) if qr else 0
    if qr is None or (cfg.encode == "confounded" and label == "fake"):
        pil.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), ".png"
    pil.save(buf, format="JPEG", quality=quality)
    return buf.getvalue(), ".jpg"


def render_plan(plan: ScenePlan, cfg: BenchConfig, out: Path) -> list[ManifestRow]:
    """Render, encode and write one scene's images; returns their manifest rows."""
    rng = np.random.default_rng(stable_seed("scene", cfg.seed, plan.index))
    preset = DIFFICULTY[cfg.difficulty]
    # Rendered once at 2x and integrated to the sensor grid, shared by both twins.
    scene = box_down2(render_scene(int(rng.integers(2**31)), 2 * cfg.size))
    real = capture(scene, CAMERAS[plan.camera], rng)
    gains = FINGERPRINT_GAIN["png" if cfg.encode == "png" else "jpeg"]
    amplitude = preset["amplitude"] * gains[plan.generator.name]
    if plan.cluster:
        return _write_cluster(plan, cfg, out, rng, scene, real)
    fake = generate(scene, plan.generator, rng, amplitude, FAKE_NOISE_GAIN)
    images = [("real", real, plan.camera, "", None), ("fake", fake, plan.generator.name, plan.generator.family, None)]
    if plan.with_splice:
        mask = random_region(rng, cfg.size)
        composite, truth = splice(real, fake, mask, rng)
        images.append(("fake", composite, f"splice:{plan.generator.name}", plan.generator.family, truth))

    rows = []
    for kind, img, source, family, truth in images:
        img = postprocess(img, rng, preset["postprocess"])
        data, ext = encode(img, cfg, rng, kind)
        stem = f"{plan.scene_id}-{'splice' if truth is not None else kind}"
        rel = Path("images") / plan.split / f"{stem}{ext}"
        (out / rel).write_bytes(data)
        mask_rel = ""
        if truth is not None:
            mask_rel = f"masks/{stem}.png"
            Image.fromarray((truth * 255).astype(np.uint8)).save(out / mask_rel, compress_level=1)
        rows.append(
            ManifestRow(
                path=rel.as_posix(), label=kind, source=source, family=family, split=plan.split,
                camera=plan.camera if kind == "real" or truth is not None else "",
                scene_id=plan.scene_id, mask_path=mask_rel,
            )
        )
    return rows


def _write_cluster(
    plan: ScenePlan, cfg: BenchConfig, out: Path, rng: np.random.Generator, scene: np.ndarray, real: np.ndarray
) -> list[ManifestRow]:
    gains = FINGERPRINT_GAIN["png" if cfg.encode == "png" else "jpeg"]
    amplitude = DIFFICULTY[cfg.difficulty]["amplitude"]
    images = [("real", real, plan.camera, "", "real")]
    for gen in plan.cluster:
        fake = generate(scene, gen, rng, amplitude * gains[gen.name], FAKE_NOISE_GAIN)
        images.append(("fake", fake, gen.name, gen.family, f"fake-{gen.name}"))
    rows = []
    for kind, img, source, family, suffix in images:
        img = postprocess(img, rng, DIFFICULTY[cfg.difficulty]["postprocess"])
        data, ext = encode(img, cfg, rng, kind)
        rel = Path("images") / plan.split / f"{plan.scene_id}-{suffix}{ext}"
        (out / rel).write_bytes(data)
        rows.append(ManifestRow(
            path=rel.as_posix(), label=kind, source=source, family=family, split=plan.split,
            camera=plan.camera if kind == "real" else "", scene_id=plan.scene_id, cluster_id=plan.scene_id,
        ))
    return rows


def _worker_init() -> None:
    torch.set_num_threads(1)  # one thread per process; also keeps float results identical


def _render_chunk(args: tuple[list[ScenePlan], BenchConfig, str]) -> list[ManifestRow]:
    plans, cfg, out = args
    rows = []
    for plan in plans:
        rows.extend(render_plan(plan, cfg, Path(out)))
    return rows


@dataclass(frozen=True)
class BuildSummary:
    out: str
    manifest: str
    n_images: int
    seconds: float
    images_per_second: float
    counts: dict

    def to_dict(self) -> dict:
        return asdict(self)


def build_benchmark(
    out: str | Path,
    cfg: BenchConfig = BenchConfig(),
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildSummary:
    """Write images, masks, ``manifest.csv`` and ``bench.json`` under ``out``.

    ``progress(done_scenes, total_scenes)`` is called as chunks finish.
    """
    out = Path(out)
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    plans = plan_scenes(cfg)
    chunk = 32
    chunks = [(plans[i : i + chunk], cfg, str(out)) for i in range(0, len(plans), chunk)]
    workers = workers or min(2, mp.cpu_count())
    t0 = time.perf_counter()
    rows: list[ManifestRow] = []
    done = 0
    if workers <= 1:
        _worker_init()
        results = map(_render_chunk, chunks)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init)
        results = pool.imap(_render_chunk, chunks)  # ordered: the manifest is deterministic
    try:
        for (chunk_plans, _, _), chunk_rows in zip(chunks, results):
            rows.extend(chunk_rows)
            done += len(chunk_plans)
            if progress:
                progress(done, len(plans))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    seconds = time.perf_counter() - t0
    manifest = write_manifest(out / "manifest.csv", rows)
    counts = {
        "by_split": dict(Counter(r.split for r in rows)),
        "by_label": dict(Counter(r.label for r in rows)),
        "splices": sum(1 for r in rows if r.mask_path),
        "seen_generators": [g.name for g in ALL_GENERATORS if g.seen],
        "held_out_generators": [g.name for g in ALL_GENERATORS if not g.seen],
        "seen_cameras": list(SEEN_CAMERAS),
        "held_out_cameras": list(HELD_OUT_CAMERAS),
    }
    config = asdict(cfg)
    if not cfg.clusters:
        del config["clusters"]  # default builds stay byte-identical to those before the option
    (out / "bench.json").write_text(json.dumps({"config": config, "counts": counts}, indent=2))
    return BuildSummary(str(out), str(manifest), len(rows), seconds, len(rows) / max(seconds, 1e-9), counts)
