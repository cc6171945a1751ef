"""Mask metrics for localization maps: pixel F1, IoU, pixel AUC, image-level AUC.

Conventions (documented in docs/localization.md):
- a predicted map holds scores in [0, 1]; "F1@0.5" and "IoU@0.5" binarise at 0.5,
  "F1 best" picks, per image, the threshold that maximises F1 (an oracle upper bound,
  always labelled as such) and reports that threshold;
- an authentic image (empty ground truth) with an empty prediction is correct:
  F1 = IoU = 1; any predicted pixel on it gives F1 = IoU = 0. No division by zero;
- pixel AUC pools every pixel of every image that has a non-empty mask (authentic
  images carry no positive pixels; they are scored by the image-level AUC);
- image-level AUC scores each image by the maximum of its map, label = mask not empty.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from synthtrace.metrics.detection import roc_auc


def _f1_iou(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred & ~gt))
    fn = int(np.count_nonzero(~pred & gt))
    if tp + fp + fn == 0:  # empty prediction on an empty mask: correct
        return 1.0, 1.0
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


def best_f1(score: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """(best F1 over thresholds, the threshold): predicted = score >= threshold."""
    s = np.asarray(score, dtype=np.float64).ravel()
    g = np.asarray(gt, dtype=bool).ravel()
    n_pos = int(g.sum())
    if n_pos == 0:
        return 1.0, float(np.nextafter(s.max(), np.inf)) if s.size else 1.0
    order = np.argsort(-s, kind="stable")
    ss, gg = s[order], g[order]
    tp = np.cumsum(gg)
    k = np.arange(1, s.size + 1)
    last = np.r_[ss[1:] != ss[:-1], True]  # thresholds only between distinct scores
    f1 = np.where(last, 2 * tp / (k + n_pos), -1.0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(ss[i])


def image_mask_metrics(score: np.ndarray, gt: np.ndarray, *, threshold: float = 0.5) -> dict[str, Any]:
    """Per-image metrics of a score map (values in [0, 1]) against a boolean mask."""
    score = np.asarray(score, dtype=np.float64)
    gt = np.asarray(gt, dtype=bool)
    if score.shape != gt.shape:
        raise ValueError(f"map {score.shape} and mask {gt.shape} differ in shape")
    f1, iou = _f1_iou(score >= threshold, gt)
    bf1, bthr = best_f1(score, gt)
    return {
        "f1_at_threshold": f1, "iou_at_threshold": iou, "threshold": threshold,
        "f1_best": bf1, "f1_best_threshold": bthr,
        "pixel_auc": roc_auc(gt.ravel(), score.ravel()) if gt.any() and not gt.all() else None,
        "map_max": float(score.max()) if score.size else 0.0,
        "authentic": not bool(gt.any()),
    }


def mask_metrics(scores: Sequence[np.ndarray], masks: Sequence[np.ndarray | None], *,
                 threshold: float = 0.5, max_pixels_for_auc: int = 20_000_000,
                 seed: int = 0) -> dict[str, Any]:
    """Dataset metrics: mean per-image F1/IoU (at ``threshold`` and best, said which),
    pooled pixel AUC over images with a mask, image-level AUC from the map maximum.

    ``masks[i]`` None means authentic (an empty mask of the map's shape).
    """
    per_image = []
    pix_s, pix_y = [], []
    for s, m in zip(scores, masks, strict=True):
        s = np.asarray(s, dtype=np.float64)
        g = np.zeros(s.shape, bool) if m is None else np.asarray(m, dtype=bool)
        r = image_mask_metrics(s, g, threshold=threshold)
        per_image.append(r)
        if g.any():
            pix_s.append(s.ravel())
            pix_y.append(g.ravel())
    out: dict[str, Any] = {"n_images": len(per_image), "threshold": threshold}
    if pix_s:
        ps, py = np.concatenate(pix_s), np.concatenate(pix_y)
        if ps.size > max_pixels_for_auc:  # uniform subsample keeps the AUC unbiased
            idx = np.random.default_rng(seed).choice(ps.size, max_pixels_for_auc, replace=False)
            ps, py = ps[idx], py[idx]
        out["pixel_auc"] = roc_auc(py, ps)
    else:
        out["pixel_auc"] = None
    edited = [r for r in per_image if not r["authentic"]]
    authentic = [r for r in per_image if r["authentic"]]
    for name, group in (("edited", edited), ("authentic", authentic), ("all", per_image)):
        out[name] = {
            "n": len(group),
            "f1_at_threshold": float(np.mean([r["f1_at_threshold"] for r in group])) if group else None,
            "iou_at_threshold": float(np.mean([r["iou_at_threshold"] for r in group])) if group else None,
            "f1_best_per_image": float(np.mean([r["f1_best"] for r in group])) if group else None,
        }
    y_img = [0 if r["authentic"] else 1 for r in per_image]
    auc = roc_auc(y_img, [r["map_max"] for r in per_image]) if len(set(y_img)) == 2 else None
    out["image_auc_from_max"] = auc
    out["per_image"] = per_image
    return out
