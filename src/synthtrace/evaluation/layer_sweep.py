"""Which layer of a frozen backbone separates real from generated best?

A linear probe (spec §1) per (layer, pooling), fitted on the manifest's ``train``
split; ROC AUC with stratified bootstrap 95 % intervals on ``val`` and ``test``.
The best pair is chosen on **val** only (highest val AUC; ties go to the first pair in
sweep order: poolings as given, layers shallow to deep). ``test`` is
reported, never used for the choice. Features of every layer come from one forward
pass per batch (``features.layers.extract_all_layers``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthtrace.backbones.registry import create_backbone
from synthtrace.backbones.speed import FP32, Precision
from synthtrace.evaluation.evaluate import dataset_note
from synthtrace.features.layers import extract_all_layers
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.io.manifest import Manifest, read_manifest
from synthtrace.metrics.detection import bootstrap_ci, roc_auc, to_jsonable
from synthtrace.training.train import training_splits

__all__ = ["LayerResult", "LayerSweep", "sweep_layers"]


@dataclass(frozen=True)
class LayerResult:
    layer: str
    pooling: str
    val_auc: float
    val_ci: tuple[float, float]
    test_auc: float
    test_ci: tuple[float, float]


@dataclass
class LayerSweep:
    backbone: str
    manifest: str | None
    dataset: str
    n_train: int
    n_val: int
    n_test: int
    rows: list[LayerResult] = field(default_factory=list)
    best: LayerResult | None = None
    seconds: float = 0.0
    precision: Precision = FP32

    def train_command(self, manifest: str = "MANIFEST", out: str = "BUNDLE") -> str:
        """The `synthtrace train` command that uses the chosen layer."""
        if self.best is None:
            return ""
        return (
            f"synthtrace train --manifest {manifest} --out {out} --backbone {self.backbone} "
            f"--layer {self.best.layer} --pooling {self.best.pooling}"
        )

    def to_dict(self) -> dict[str, Any]:

        return to_jsonable(
            {
                "backbone": self.backbone, "manifest": self.manifest, "dataset": self.dataset, "selection": "highest val ROC AUC (test not used)",
                "n_train": self.n_train, "n_val": self.n_val, "n_test": self.n_test, "seconds": self.seconds,
                "precision": str(self.precision),
                "best": asdict(self.best) if self.best else None,
                "rows": [asdict(r) for r in self.rows],
            }
        )


def _auc_ci(y: np.ndarray, s: np.ndarray, n_boot: int, seed: int) -> tuple[float, tuple[float, float]]:

    if y.size == 0 or np.unique(y).size < 2:
        return math.nan, (math.nan, math.nan)
    return roc_auc(y, s), bootstrap_ci(y, s, "roc_auc", n_boot=n_boot, seed=seed)


def sweep_layers(
    manifest: str | Path | Manifest,
    backbone: str,
    *,
    poolings: Sequence[str] = ("cls", "mean"),
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    precision: Precision = FP32,
) -> LayerSweep:
    """Probe every layer of ``backbone`` (an ``hf:`` name) on ``manifest``; see the module docstring."""
    log = log or (lambda msg: None)
    t0 = time.perf_counter()
    m = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    train, val = training_splits(m)
    test = m.where(mask_path="", split="test")
    bb = create_backbone(backbone)
    parts = {"train": train, "val": val, "test": test}
    feats = {}
    for name, part in parts.items():
        paths = [part.path_of(r) for r in part]
        log(f"{name}: {len(paths)} images")
        feats[name] = extract_all_layers(
            paths, bb, poolings=poolings, batch_size=batch_size, cache_dir=cache_dir, progress=progress,
            precision=precision,
        )
    y = {name: part.labels() for name, part in parts.items()}
    rows = []
    for pair in feats["train"]:
        probe = LinearProbe(random_state=seed).fit(feats["train"][pair], y["train"])
        v_auc, v_ci = _auc_ci(y["val"], probe.decision_function(feats["val"][pair]), n_boot, seed)
        if len(test):
            t_auc, t_ci = _auc_ci(y["test"], probe.decision_function(feats["test"][pair]), n_boot, seed)
        else:
            t_auc, t_ci = math.nan, (math.nan, math.nan)
        rows.append(LayerResult(pair[0], pair[1], v_auc, v_ci, t_auc, t_ci))
    finite = [r for r in rows if np.isfinite(r.val_auc)]
    best = max(finite, key=lambda r: r.val_auc) if finite else None
    return LayerSweep(
        backbone=bb.id, manifest=None if isinstance(manifest, Manifest) else str(Path(manifest).resolve()),
        dataset=dataset_note(m), n_train=len(train), n_val=len(val), n_test=len(test), rows=rows, best=best,
        seconds=round(time.perf_counter() - t0, 1), precision=precision,
    )
