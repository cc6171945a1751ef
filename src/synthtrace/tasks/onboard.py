"""N-shot onboarding of a new generator (spec §2 protocol; "Adapt to Scarcity", ICPR 2024).

Given a detector bundle on an ``hf:`` backbone and examples of a new generator, each
seed draws N real/fake training pairs, a validation set and a test set from the
same pool, and fits three ways side by side:

- ``linear_probe``: logistic regression on the frozen backbone's features;
- ``lora``: LoRA on every linear layer of the tower + a joint linear head
  (``heads/lora.py``), head started from that seed's probe;
- ``full_ft``: the same loop with every weight trainable.

Pairs are content-matched when the manifest has ``scene_id`` (one real and one fake
of the same scene form a pair, so the pair members never straddle train and test);
otherwise reals and fakes are paired at random and the result says so. Per seed:
shuffle the pairs, the first N train, the next ``max(4, round(val_fraction·N))``
validate (early stopping, lr schedule), the rest test. Reported: test ROC AUC per
seed, mean ± std over seeds.

Result shape (``OnboardResult.to_dict``; also read by the evaluation report):
``{"protocol": {...settings...}, "results": {"linear_probe": {"50": [auc_seed0, ...]},
"lora": {...}, "full_ft": {...}}, "runs": [...per seed details...]}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthtrace.detector import DetectorBundle
from synthtrace.errors import ConfigError, InputError
from synthtrace.heads.calibration import fit_calibration
from synthtrace.heads.linear_probe import LinearProbe
from synthtrace.heads.lora import FineTuneConfig, FineTunedClassifier
from synthtrace.io.images import iter_image_files, load_images
from synthtrace.io.manifest import Manifest, ManifestRow, read_manifest
from synthtrace.metrics.detection import roc_auc
from synthtrace.progress import progress_bar

__all__ = ["METHODS", "OnboardProtocol", "OnboardResult", "load_pairs", "manifest_from_dirs", "run_onboarding", "summarize"]

METHODS = ("linear_probe", "lora", "full_ft")


@dataclass(frozen=True)
class OnboardProtocol:
    """The N-shot protocol's settings (recorded verbatim in the result)."""

    shots: tuple[int, ...] = (50,)
    seeds: int = 5
    methods: tuple[str, ...] = METHODS
    val_fraction: float = 0.25
    min_test_pairs: int = 10
    lora: FineTuneConfig = field(default_factory=FineTuneConfig)
    full_ft: FineTuneConfig = field(default_factory=lambda: FineTuneConfig(mode="full"))
    probe_init: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "shots", tuple(int(n) for n in self.shots))
        object.__setattr__(self, "methods", tuple(self.methods))
        bad = sorted(set(self.methods) - set(METHODS))
        if bad:
            raise ConfigError(f"onboarding methods {bad}: expected some of {list(METHODS)}")
        if not self.shots or min(self.shots) < 2:
            raise ConfigError(f"shots {self.shots}: each N must be at least 2 pairs")
        if self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds}: expected at least 1")

    def val_pairs(self, n: int) -> int:
        return max(4, round(self.val_fraction * n))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lora"], d["full_ft"] = self.lora.to_dict(), self.full_ft.to_dict()
        d["shots"], d["methods"] = list(self.shots), list(self.methods)
        return d


@dataclass
class OnboardResult:
    protocol: dict[str, Any]
    results: dict[str, dict[str, list[float]]]
    runs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "results": self.results, "runs": self.runs}

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return summarize(self.results)


def summarize(results: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{method: {N: {"mean", "std", "n"}}}; std is the sample std over seeds (ddof 1)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, by_n in results.items():
        out[method] = {}
        for n, values in by_n.items():
            v = np.asarray(values, dtype=np.float64)
            out[method][n] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}
    return out


# ------------------------------------------------------------------ data
def manifest_from_dirs(real: str | Path, fake: str | Path) -> Manifest:
    """An in-memory manifest of every image under ``real`` and ``fake`` (absolute paths)."""

    rows = []
    for label, d in (("real", Path(real)), ("fake", Path(fake))):
        if not d.is_dir():
            raise InputError(f"--{label} {d}: not a folder. Pass a folder of {label} images.")
        files = iter_image_files(d)
        if not files:
            raise InputError(f"--{label} {d}: no images found (looked for common image extensions, recursively).")
        rows += [ManifestRow(path=str(p.resolve()), label=label, source=d.name) for p in files]
    return Manifest(root=Path.cwd(), rows=tuple(rows))


def load_pairs(
    manifest: Manifest, *, sources: Sequence[str] = (), families: Sequence[str] = (), seed: int = 0,
) -> tuple[list[tuple[ManifestRow, ManifestRow]], bool]:
    """(real, fake) pairs and whether they are content-matched (via ``scene_id``).

    ``sources``/``families`` select the new generator's fakes; with scene ids the
    reals are the twins of those fakes, otherwise every real in the manifest.
    Splice rows (with a mask) are left out.
    """
    rows = [r for r in manifest if not r.mask_path]
    fakes = [r for r in rows if r.label == "fake"
             and (not sources or r.source in sources) and (not families or r.family in families)]
    reals = [r for r in rows if r.label == "real"]
    if not fakes:
        raise InputError(
            f"manifest in {manifest.root}: no fake images match sources={list(sources)} families={list(families)}; "
            f"available sources: {sorted({r.source for r in rows if r.label == 'fake'})}"
        )
    if all(r.scene_id for r in fakes + reals):
        real_of: dict[str, ManifestRow] = {}
        for r in sorted(reals, key=lambda r: r.path):
            real_of.setdefault(r.scene_id, r)
        pairs, used = [], set()
        for f in sorted(fakes, key=lambda r: r.path):
            # One pair per scene: a real shared by two pairs could land in train and test.
            if f.scene_id in real_of and f.scene_id not in used:
                used.add(f.scene_id)
                pairs.append((real_of[f.scene_id], f))
        if pairs:
            return pairs, True
    rng = np.random.default_rng(seed)
    reals_sorted = sorted(reals, key=lambda r: r.path)
    fakes_sorted = sorted(fakes, key=lambda r: r.path)
    ri, fi = rng.permutation(len(reals_sorted)), rng.permutation(len(fakes_sorted))
    n = min(len(ri), len(fi))
    return [(reals_sorted[ri[k]], fakes_sorted[fi[k]]) for k in range(n)], False


# ------------------------------------------------------------------ protocol
def run_onboarding(
    detector: str | Path,
    data: str | Path | Manifest,
    protocol: OnboardProtocol = OnboardProtocol(),
    *,
    sources: Sequence[str] = (),
    families: Sequence[str] = (),
    save_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> OnboardResult:
    """Run the N-shot protocol with ``detector``'s backbone, layer and pooling on ``data``.

    ``data``: a manifest (path or Manifest) or use :func:`manifest_from_dirs`.
    ``save_dir``: also write the seed-0 LoRA model at the largest N as a ``finetuned``
    detector bundle there (adapters merged, calibrated on that seed's validation pairs).
    """
    log = log or (lambda msg: None)
    bundle = DetectorBundle.from_pretrained(detector)
    bb_id = str(bundle.backbone.get("id", ""))
    if not bb_id.startswith("hf:"):
        raise ConfigError(
            f"detector {detector}: backbone {bb_id!r}; onboarding fine-tunes a transformer, so it needs a bundle "
            "trained on an hf: backbone (synthtrace train --backbone hf:...)"
        )
    layer = bundle.backbone.get("layer", "last")
    pooling = bundle.backbone.get("pooling", "cls")
    if layer == "all":  # multilayer bundles: onboard on the final embedding
        layer, pooling = "last", "cls"
    bb = bundle.feature_backbone()
    m = data if isinstance(data, Manifest) else read_manifest(data)
    pairs, matched = load_pairs(m, sources=sources, families=families)
    need = max(protocol.shots) + protocol.val_pairs(max(protocol.shots)) + protocol.min_test_pairs
    if len(pairs) < need:
        raise InputError(
            f"{len(pairs)} real/fake pairs available but N={max(protocol.shots)} needs {need} "
            f"(N train + {protocol.val_pairs(max(protocol.shots))} val + at least {protocol.min_test_pairs} test); "
            "add images or lower --shots"
        )
    log(f"{len(pairs)} {'content-matched' if matched else 'unmatched (random)'} pairs; backbone {bb_id} [{layer}/{pooling}]")

    paths = [m.path_of(r) for pair in pairs for r in pair]  # real, fake, real, fake, ...
    images = [im.rgb for im in load_images(paths, progress=progress, label="decoding")]
    pixels = np.stack([bb.preprocess(im) for im in images])
    with torch.inference_mode():
        feats = np.concatenate([
            bb.embed(torch.from_numpy(pixels[s : s + 64]), layer=layer, pooling=pooling).numpy()
            for s in range(0, len(pixels), 64)
        ])
    labels = np.tile([0, 1], len(pairs))

    def rows_of(pair_idx: np.ndarray) -> np.ndarray:
        return np.stack([2 * pair_idx, 2 * pair_idx + 1], axis=1).reshape(-1)

    results: dict[str, dict[str, list[float]]] = {meth: {str(n): [] for n in protocol.shots} for meth in protocol.methods}
    runs: list[dict[str, Any]] = []
    total = len(protocol.shots) * protocol.seeds * len(protocol.methods)
    saved = None
    with progress_bar(total, "onboarding (seed x method)", enabled=progress) as advance:
        for n in protocol.shots:
            n_val = protocol.val_pairs(n)
            for seed in range(protocol.seeds):
                perm = np.random.default_rng(seed).permutation(len(pairs))
                tr, va, te = rows_of(perm[:n]), rows_of(perm[n : n + n_val]), rows_of(perm[n + n_val :])
                run: dict[str, Any] = {"shots": n, "seed": seed, "n_val_pairs": n_val, "n_test_pairs": len(te) // 2}
                t0 = time.perf_counter()
                probe = LinearProbe(random_state=seed).fit(feats[tr], labels[tr])
                probe_seconds = time.perf_counter() - t0
                if "linear_probe" in protocol.methods:
                    auc = roc_auc(labels[te], probe.decision_function(feats[te]))
                    results["linear_probe"][str(n)].append(auc)
                    run["linear_probe"] = {"auc": auc, "seconds": round(probe_seconds, 2)}
                    advance(1)
                for meth in ("lora", "full_ft"):
                    if meth not in protocol.methods:
                        continue
                    cfg = replace(getattr(protocol, meth), seed=seed)
                    t0 = time.perf_counter()
                    clf = FineTunedClassifier(bb_id, layer=layer, pooling=pooling, config=cfg)
                    init = (probe.coef_[0], float(probe.intercept_[0])) if protocol.probe_init else None
                    clf.fit(pixels[tr], labels[tr], pixels[va], labels[va], init_head=init)
                    auc = roc_auc(labels[te], clf.decision_function(pixels[te]))
                    results[meth][str(n)].append(auc)
                    # best_val_loss: what knob choices (lr, rank, epochs) may be compared on, never test AUC
                    run[meth] = {"auc": auc, "best_epoch": clf.best_epoch_, "epochs": len(clf.history_) - 1,
                                 "best_val_loss": clf.history_[clf.best_epoch_]["val_loss"],
                                 "start_val_loss": clf.history_[0]["val_loss"],
                                 "seconds": round(time.perf_counter() - t0, 1)}
                    log(f"N={n} seed {seed} {meth}: test AUC {auc:.4f} (probe {run.get('linear_probe', {}).get('auc', float('nan')):.4f}), "
                        f"best epoch {clf.best_epoch_}/{len(clf.history_) - 1}")
                    if meth == "lora" and seed == 0 and n == max(protocol.shots) and save_dir is not None:
                        saved = _save_bundle(clf, bundle, pixels[va], labels[va], save_dir, m, run)
                    advance(1)
                runs.append(run)
    proto = protocol.to_dict() | {
        "detector": str(Path(detector).resolve()),
        "backbone": bb_id, "layer": layer, "pooling": pooling,
        "pairs": len(pairs), "content_matched": matched,
        "sources": list(sources), "families": list(families),
        "manifest_sha256": m.digest(), "metric": "roc_auc (test pairs)",
        "saved_bundle": saved,
    }
    return OnboardResult(protocol=proto, results=results, runs=runs)


def _save_bundle(clf, bundle, X_val, y_val, out, manifest: Manifest, run: dict[str, Any]) -> str:

    val_scores = clf.decision_function(X_val)
    arch = clf.get_params()["architecture"]
    ft = DetectorBundle(
        kind="finetuned",
        backbone={"id": arch["backbone"], "weights_hash": arch["weights_hash"], "layer": clf.layer, "pooling": clf.pooling},
        preprocess=dict(arch["preprocess"]),
        head={"type": "finetuned", "params": clf.get_params(), "history": clf.history_},
        calibration=fit_calibration(y_val, val_scores),
        training={"onboarded_from": bundle.name, "manifest_sha256": manifest.digest(), "shots": run["shots"],
                  "seed": run["seed"], "mode": clf.config.mode},
        model=clf,
    )
    ft.save_pretrained(out)
    return str(Path(out).resolve())
