"""Fine-grained error analysis of predicted masks: boundary, extent and segment errors.

Implements ``specs/localization-error-analysis.md`` ("Beyond mIoU", WACV 2024) and
matches the public reference implementation (``beyond-iou``) on the same masks:

- each class is analysed on its own as a binary problem (G = ground truth of the
  class, P = prediction of the class);
- ground-truth pixels equal to the ignore label are never counted, but they take part
  geometrically: TN for a class unless predicted as it (then FP, and part of P's
  connected components); ground-truth components never cross them;
- a prediction equal to the ignore label means "no class";
- connected components use 8-connectivity (``connectivity=4`` exists only to show why
  it breaks the disjointness of the categories, see the tests);
- dilations use the disk ``{(dx, dy) : round(sqrt(dx^2 + dy^2)) <= d}``;
- ``d`` is a whole number of pixels or ``int(round(d_frac * diagonal))`` (Python
  rounding); ``d == 0`` finds no boundary errors, which is warned about;
- the dataset aggregate sums pixel counts per class over all images, computes the
  ratios per class, then averages over classes skipping NaN (the number of classes
  behind each mean is reported).

Dilations and connected components use OpenCV when it is installed (identical
results), else scipy.ndimage. The work per class is restricted to crops around its
regions: the bounding boxes of the connected components of ``P ∪ G`` (on an 8×8
block grid) grown by ``max(d, 1) + 1`` pixels, merged until disjoint (see :func:`_region_crops`; exact,
since outside them every pixel is a true negative and nothing interacts across
crops). Absent classes are skipped (all TN).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

# Per-pixel codes of the error map (same numbering as the reference implementation).
IGNORE, UNASSIGNED, TP, TN = -1, 0, 1, 2
FP_BND, FN_BND, FP_EXT, FN_EXT, FP_SEG, FN_SEG = 3, 4, 5, 6, 7, 8
CODE_NAMES = {
    IGNORE: "ignore", TP: "TP", TN: "TN",
    FP_BND: "FP boundary", FN_BND: "FN boundary",
    FP_EXT: "FP extent", FN_EXT: "FN extent",
    FP_SEG: "FP segment", FN_SEG: "FN segment",
}
# Colour-blind-friendly-ish palette: FP warm (light → dark with severity), FN cool.
ERROR_PALETTE = {
    IGNORE: (100, 100, 100), UNASSIGNED: (150, 150, 150), TP: (255, 255, 255), TN: (0, 0, 0),
    FP_BND: (255, 200, 150), FN_BND: (150, 200, 255),
    FP_EXT: (255, 100, 150), FN_EXT: (150, 100, 255),
    FP_SEG: (255, 0, 0), FN_SEG: (0, 0, 255),
}
COUNT_KEYS = ("TP", "TN", "FP_bnd", "FP_ext", "FP_seg", "FN_bnd", "FN_ext", "FN_seg", "ignore")

_STRUCT8 = np.ones((3, 3), dtype=bool)

try:  # optional fast path (opencv is an optional dependency); results are identical
    import cv2 as _cv2
except Exception:  # pragma: no cover - depends on the environment
    _cv2 = None
_STRUCT4 = ndi.generate_binary_structure(2, 1)


def boundary_distance(height: int, width: int, *, d: int | None = None, d_frac: float = 0.01) -> int:
    """The distance parameter d in pixels: ``d`` if given, else ``round(d_frac * diagonal)``.

    Python's round: halves go to the even number (a diagonal of 250 at 1 % gives 2).
    """
    if d is not None:
        if int(d) != d or d < 0:
            raise ValueError(f"d must be a whole number of pixels >= 0, got {d!r}")
        return int(d)
    if not 0 < d_frac < 1:
        raise ValueError(f"d_frac must be in (0, 1), got {d_frac!r}")
    return int(round(d_frac * math.sqrt(height * height + width * width)))


def disk_kernel(d: int) -> np.ndarray:
    """``{(dx, dy) : round(sqrt(dx² + dy²)) <= d}`` (numpy rounding); d = 1 is the 3×3 block."""
    x = np.arange(-d, d + 1)
    return np.round(np.sqrt(x[:, None] ** 2 + x[None, :] ** 2)) <= d


@functools.lru_cache(maxsize=64)
def _disk_u8(d: int) -> np.ndarray:
    return disk_kernel(d).astype(np.uint8)


def dilate_disk(mask: np.ndarray, d: int) -> np.ndarray:
    """Binary dilation of ``mask`` by the disk of radius ``d`` (exact, see :func:`disk_kernel`)."""
    mask = np.asarray(mask, dtype=bool)
    if d <= 0:
        return mask.copy()
    if not mask.any():
        return np.zeros_like(mask)
    if _cv2 is not None and mask.ndim == 2:
        return _cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), _disk_u8(d), borderType=_cv2.BORDER_CONSTANT,
                           borderValue=0).view(bool)
    if d <= 2:
        return ndi.binary_dilation(mask, structure=disk_kernel(d))
    # round(sqrt(k)) <= d  <=>  k < (d + 0.5)² for integer k; no integer equals (d + .5)².
    return ndi.distance_transform_edt(~mask) < d + 0.5


def _label(mask: np.ndarray, structure: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components (the numbering differs between backends; only the grouping
    is used, which is identical)."""
    if _cv2 is not None and mask.ndim == 2 and mask.size:
        conn = 8 if structure is _STRUCT8 else 4
        n, lab = _cv2.connectedComponents(np.ascontiguousarray(mask).view(np.uint8), connectivity=conn,
                                         ltype=_cv2.CV_32S)
        return lab, int(n) - 1
    return ndi.label(mask, structure=structure)


def _dilate3(mask: np.ndarray) -> np.ndarray:
    if _cv2 is not None and mask.any():
        return dilate_disk(mask, 1)
    return ndi.binary_dilation(mask, structure=_STRUCT8) if mask.any() else np.zeros_like(mask)


@dataclass
class ClassSets:
    """The error sets of one class (booleans, same shape as the masks)."""

    tp: np.ndarray
    tn: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    fp_bnd: np.ndarray
    fn_bnd: np.ndarray
    fp_ext: np.ndarray
    fn_ext: np.ndarray
    fp_seg: np.ndarray
    fn_seg: np.ndarray
    # Segment errors by the bare definition, FP_seg = {x ∈ FP | S(P)_x ∩ TP = ∅},
    # without removing boundary errors first: disjoint from FP_bnd only with
    # 8-connectivity (the thesis' proof uses the 3×3 neighbourhood).
    fp_seg_def: np.ndarray
    fn_seg_def: np.ndarray


def _boundary(err: np.ndarray, tp: np.ndarray, tn: np.ndarray, near: np.ndarray, d: int,
              adj: tuple[np.ndarray, np.ndarray] | None, structure: np.ndarray) -> np.ndarray:
    e1 = err & near  # FP'
    if not e1.any():
        return np.zeros_like(err)
    e2 = err & dilate_disk(e1, d)  # FP''
    lab, n = _label(e2, structure)
    adj_tp, adj_tn = adj if adj is not None else (_dilate3(tp), _dilate3(tn))
    ok_tp = np.zeros(n + 1, dtype=bool)
    ok_tn = np.zeros(n + 1, dtype=bool)
    ok_tp[lab[e2 & adj_tp]] = True
    ok_tn[lab[e2 & adj_tn]] = True
    keep = ok_tp & ok_tn
    keep[0] = False
    return keep[lab]


def _with_tp(region: np.ndarray, tp: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` whose connected component holds a TP pixel."""
    lab, n = _label(region, structure)
    has = np.zeros(n + 1, dtype=bool)
    has[lab[tp]] = True
    has[0] = False
    return has[lab]


def class_error_sets(pred: np.ndarray, gt: np.ndarray, d: int, *, gt_valid: np.ndarray | None = None,
                     connectivity: int = 8) -> ClassSets:
    """Error sets of one class from boolean masks (the spec's algorithm, verbatim).

    ``pred``: P, the pixels predicted as the class (including ignore pixels).
    ``gt``: G; pixels where ``gt_valid`` is False (ignore) are forced out of G.
    """
    if connectivity not in (4, 8):
        raise ValueError("connectivity must be 4 or 8")
    structure = _STRUCT8 if connectivity == 8 else _STRUCT4
    P = np.asarray(pred, dtype=bool)
    G = np.asarray(gt, dtype=bool)
    if gt_valid is not None:
        G = G & gt_valid
    tp, fp, fn = P & G, P & ~G, G & ~P
    tn = ~(P | G)
    empty = np.zeros_like(P)
    if tp.any() and d > 0 and (fp.any() or fn.any()):
        near = dilate_disk(tp, d) & dilate_disk(tn, d)
        adj = (_dilate3(tp), _dilate3(tn))
        fp_bnd = _boundary(fp, tp, tn, near, d, adj, structure) if fp.any() else empty
        fn_bnd = _boundary(fn, tp, tn, near, d, adj, structure) if fn.any() else empty
    else:
        fp_bnd = fn_bnd = empty
    if tp.any():
        p_tp = _with_tp(P, tp, structure) if fp.any() else empty
        g_tp = _with_tp(G, tp, structure) if fn.any() else empty
    else:
        p_tp = g_tp = empty
    fp_seg_def = fp & ~p_tp
    fn_seg_def = fn & ~g_tp
    return ClassSets(
        tp=tp, tn=tn, fp=fp, fn=fn, fp_bnd=fp_bnd, fn_bnd=fn_bnd,
        fp_ext=fp & ~fp_bnd & p_tp, fn_ext=fn & ~fn_bnd & g_tp,
        fp_seg=fp_seg_def & ~fp_bnd, fn_seg=fn_seg_def & ~fn_bnd,
        fp_seg_def=fp_seg_def, fn_seg_def=fn_seg_def,
    )


@dataclass
class ErrorCounts:
    """Pixel counts per class, summable over images (the dataset aggregate)."""

    num_classes: int
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k in COUNT_KEYS:
            self.counts.setdefault(k, np.zeros(self.num_classes, dtype=np.int64))

    def add(self, other: "ErrorCounts") -> "ErrorCounts":
        if other.num_classes != self.num_classes:
            raise ValueError("cannot add counts with different numbers of classes")
        for k in COUNT_KEYS:
            self.counts[k] += other.counts[k]
        return self

    def __getitem__(self, key: str) -> np.ndarray:
        return self.counts[key]

    def table(self) -> dict[str, np.ndarray]:
        """Per-class ratios (NaN where undefined), as the reference defines them."""
        return ratios_from_counts(self.counts)

    def summary(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """Per-class table plus the mean over classes (NaN skipped per column) and its n."""
        tab = self.table()
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        mean: dict[str, float | None] = {}
        n_used: dict[str, int] = {}
        for k, v in tab.items():
            finite = v[~np.isnan(v)]
            mean[k] = float(finite.mean()) if finite.size else None
            n_used[k] = int(finite.size)
        per_class = []
        for i, name in enumerate(names):
            row: dict[str, Any] = {"class": name, "index": i}
            row.update({k: int(self.counts[k][i]) for k in COUNT_KEYS})
            row.update({k: (None if np.isnan(v[i]) else float(v[i])) for k, v in tab.items()})
            per_class.append(row)
        return {"mean": mean, "classes_in_mean": n_used, "per_class": per_class}


RATIO_KEYS = (
    "IoU", "precision", "recall", "F1",
    "E_bnd_oU", "E_ext_oU", "E_seg_oU",
    "FP_bnd_oU", "FP_ext_oU", "FP_seg_oU", "FN_bnd_oU", "FN_ext_oU", "FN_seg_oU",
    "E_bnd_renorm", "E_ext_renorm", "E_seg_renorm",
)


def ratios_from_counts(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """Error-over-union ratios and their re-normalised versions from pixel counts.

    Keys of ``c``: TP, FP_bnd, FP_ext, FP_seg, FN_bnd, FN_ext, FN_seg (scalars or arrays).
    IoU + E_bnd_oU + E_ext_oU + E_seg_oU = 1 wherever the union is not empty.
    """
    f = {k: np.asarray(c[k], dtype=np.float64) for k in ("TP", "FP_bnd", "FP_ext", "FP_seg", "FN_bnd", "FN_ext", "FN_seg")}
    tp = f["TP"]
    fp = f["FP_bnd"] + f["FP_ext"] + f["FP_seg"]
    fn = f["FN_bnd"] + f["FN_ext"] + f["FN_seg"]
    e_bnd, e_ext, e_seg = f["FP_bnd"] + f["FN_bnd"], f["FP_ext"] + f["FN_ext"], f["FP_seg"] + f["FN_seg"]
    union = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        prec, rec = tp / (tp + fp), tp / (tp + fn)
        out = {
            "IoU": tp / union,
            "precision": prec,
            "recall": rec,
            "F1": 2 * tp / (2 * tp + fp + fn),
            "E_bnd_oU": e_bnd / union, "E_ext_oU": e_ext / union, "E_seg_oU": e_seg / union,
            "FP_bnd_oU": f["FP_bnd"] / union, "FP_ext_oU": f["FP_ext"] / union, "FP_seg_oU": f["FP_seg"] / union,
            "FN_bnd_oU": f["FN_bnd"] / union, "FN_ext_oU": f["FN_ext"] / union, "FN_seg_oU": f["FN_seg"] / union,
            "E_bnd_renorm": e_bnd / (tp + e_bnd),
            "E_ext_renorm": e_ext / (tp + e_bnd + e_ext),
            "E_seg_renorm": e_seg / union,
        }
    return {k: np.atleast_1d(v) for k, v in out.items()}


@dataclass
class ImageErrors:
    """Result for one image: counts per class and, on request, the per-class error maps."""

    counts: ErrorCounts
    d: int
    error_maps: np.ndarray | None = None  # (C, H, W) int8 codes, see CODE_NAMES


def _class_boxes(labels: np.ndarray, num_classes: int) -> list[tuple[slice, slice] | None]:
    valid = labels < num_classes
    shifted = np.where(valid, labels.astype(np.int64) + 1, 0)
    boxes = ndi.find_objects(shifted, max_label=num_classes)
    return list(boxes)


def _union_box(a: tuple[slice, slice] | None, b: tuple[slice, slice] | None, margin: int,
               shape: tuple[int, int]) -> tuple[slice, slice]:
    boxes = [x for x in (a, b) if x is not None]
    y0 = max(min(x[0].start for x in boxes) - margin, 0)
    y1 = min(max(x[0].stop for x in boxes) + margin, shape[0])
    x0 = max(min(x[1].start for x in boxes) - margin, 0)
    x1 = min(max(x[1].stop for x in boxes) + margin, shape[1])
    return slice(y0, y1), slice(x0, x1)


def _merge_boxes(b: np.ndarray) -> np.ndarray:
    """Merge overlapping boxes (rows ``y0, y1, x0, x1``, half-open) until none overlap."""
    if len(b) > 32:
        while len(b) > 32:
            ov = ((b[:, None, 0] < b[None, :, 1]) & (b[None, :, 0] < b[:, None, 1])
                  & (b[:, None, 2] < b[None, :, 3]) & (b[None, :, 2] < b[:, None, 3]))
            k, grp = connected_components(csr_matrix(ov), directed=False)
            if k == len(b):
                return b
            nb = np.empty((k, 4), dtype=np.int64)
            for j, fn in enumerate((np.minimum, np.maximum, np.minimum, np.maximum)):
                col = np.full(k, b[:, j].max() if fn is np.minimum else b[:, j].min(), dtype=np.int64)
                fn.at(col, grp, b[:, j])
                nb[:, j] = col
            b = nb
    boxes = [list(map(int, r)) for r in b]
    changed = True
    while changed:
        changed = False
        i = 0
        while i < len(boxes):
            a = boxes[i]
            j = i + 1
            while j < len(boxes):
                c = boxes[j]
                if a[0] < c[1] and c[0] < a[1] and a[2] < c[3] and c[2] < a[3]:
                    a[0], a[1], a[2], a[3] = min(a[0], c[0]), max(a[1], c[1]), min(a[2], c[2]), max(a[3], c[3])
                    del boxes[j]
                    changed = True
                    j = i + 1
                else:
                    j += 1
            i += 1
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


_BLOCK = 8


def _region_crops(region: np.ndarray, origin: tuple[int, int], pad: int, shape: tuple[int, int]
                  ) -> list[tuple[slice, slice]]:
    """Disjoint crops, each holding whole groups of the connected components of
    ``region`` (P ∪ G of one class, given inside its bounding box at ``origin``).

    Components are found on the 8×8-block occupancy grid (each pixel component lies
    inside one block component, whose box contains its box); the boxes are grown by
    ``pad`` (clipped to the image) and overlapping boxes are merged until none
    overlap. With ``pad = max(d, 1) + 1`` the analysis of a class inside each crop
    equals the whole-image analysis: every quantity of a pixel of P ∪ G depends only
    on pixels within distance max(d, 1) of it (disk dilations, 3×3 adjacency) and on
    its own connected component; a pixel of another crop is more than ``pad`` away
    along some axis, and every pixel of a crop outside its own components is TN.
    """
    H, W = shape
    y0, x0 = origin
    h, w = region.shape
    B = _BLOCK
    occ = np.logical_or.reduceat(np.logical_or.reduceat(region, np.arange(0, h, B), axis=0),
                                 np.arange(0, w, B), axis=1)
    n, _, st, _ = _cv2.connectedComponentsWithStats(occ.view(np.uint8), connectivity=8, ltype=_cv2.CV_32S)
    if n <= 2:
        return [(slice(max(y0 - pad, 0), min(y0 + h + pad, H)), slice(max(x0 - pad, 0), min(x0 + w + pad, W)))]
    st = st[1:].astype(np.int64)
    b = np.stack([np.maximum(y0 + st[:, 1] * B - pad, 0),
                  np.minimum(y0 + np.minimum((st[:, 1] + st[:, 3]) * B, h) + pad, H),
                  np.maximum(x0 + st[:, 0] * B - pad, 0),
                  np.minimum(x0 + np.minimum((st[:, 0] + st[:, 2]) * B, w) + pad, W)], axis=1)
    b = _merge_boxes(b)
    return [(slice(int(r[0]), int(r[1])), slice(int(r[2]), int(r[3]))) for r in b]


def analyze_labels(pred: np.ndarray, gt: np.ndarray, num_classes: int, *, ignore_index: int | None = 255,
                   d: int | None = None, d_frac: float = 0.01, classes: Iterable[int] | None = None,
                   connectivity: int = 8, return_maps: bool = False, warn_zero_d: bool = True) -> ImageErrors:
    """Error analysis of one predicted label map against its ground truth.

    ``pred``, ``gt``: integer (H, W) label maps with classes 0..num_classes-1 and
    ``ignore_index``. ``classes``: analyse only these (default all); the others keep
    zero counts. Returns counts per class (ignored pixels are never counted).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must be 2-D and the same shape")
    for name, a in (("prediction", pred), ("ground truth", gt)):
        bad = (a >= num_classes) | (a < 0)
        if ignore_index is not None:
            bad &= a != ignore_index
        if bad.any():
            raise ValueError(f"{name} holds labels outside 0..{num_classes - 1}"
                             + (f" and ignore {ignore_index}" if ignore_index is not None else ""))
    if _cv2 is not None:  # small crops: OpenCV's thread pool costs more CPU than it saves
        threads = _cv2.getNumThreads()
        _cv2.setNumThreads(1)
        try:
            return _analyze_labels(pred, gt, num_classes, ignore_index, d, d_frac, classes, connectivity,
                                   return_maps, warn_zero_d)
        finally:
            _cv2.setNumThreads(threads)
    return _analyze_labels(pred, gt, num_classes, ignore_index, d, d_frac, classes, connectivity,
                           return_maps, warn_zero_d)


def _analyze_labels(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int | None, d: int | None,
                    d_frac: float, classes: Iterable[int] | None, connectivity: int, return_maps: bool,
                    warn_zero_d: bool) -> ImageErrors:
    H, W = gt.shape
    dd = boundary_distance(H, W, d=d, d_frac=d_frac)
    if dd == 0 and warn_zero_d:
        warnings.warn(f"boundary distance d is 0 for a {H}x{W} image: no boundary errors can be found",
                      stacklevel=3)
    gt_valid = gt != ignore_index if ignore_index is not None else np.ones(gt.shape, dtype=bool)
    n_valid = int(gt_valid.sum())
    n_ignore = gt.size - n_valid
    counts = ErrorCounts(num_classes)
    maps = np.full((num_classes, H, W), TN, dtype=np.int8) if return_maps else None
    if maps is not None:
        maps[:, ~gt_valid] = IGNORE
    pboxes = _class_boxes(pred, num_classes)
    gboxes = _class_boxes(np.where(gt_valid, gt, num_classes), num_classes)
    todo = range(num_classes) if classes is None else sorted(set(int(c) for c in classes))
    for c in todo:
        counts.counts["ignore"][c] = n_ignore
        pb, gb = pboxes[c], gboxes[c]
        if pb is None and gb is None:
            counts.counts["TN"][c] = n_valid
            continue
        pad = max(dd, 1) + 1
        if _cv2 is not None and connectivity == 8:
            tight = _union_box(pb, gb, 0, (H, W))
            region = (pred[tight] == c) | ((gt[tight] == c) & gt_valid[tight])
            crops = _region_crops(region, (tight[0].start, tight[1].start), pad, (H, W))
        else:  # the 4-connectivity demonstration keeps the single-box path
            crops = [_union_box(pb, gb, pad, (H, W))]
        k = counts.counts
        n_union = 0
        for box in crops:
            P = pred[box] == c
            G = gt[box] == c
            v = gt_valid[box]
            s = class_error_sets(P, G, dd, gt_valid=v, connectivity=connectivity)
            k["TP"][c] += np.count_nonzero(s.tp)
            for key, m in (("FP_bnd", s.fp_bnd), ("FP_ext", s.fp_ext), ("FP_seg", s.fp_seg),
                           ("FN_bnd", s.fn_bnd), ("FN_ext", s.fn_ext), ("FN_seg", s.fn_seg)):
                k[key][c] += np.count_nonzero(m & v)
            n_union += np.count_nonzero((P | G) & v)
            if maps is not None:
                sub = maps[c][box]
                for code, m in ((TP, s.tp), (FP_BND, s.fp_bnd), (FN_BND, s.fn_bnd), (FP_EXT, s.fp_ext),
                                (FN_EXT, s.fn_ext), (FP_SEG, s.fp_seg), (FN_SEG, s.fn_seg)):
                    sub[m & v] = code
        k["TN"][c] = n_valid - n_union
    return ImageErrors(counts=counts, d=dd, error_maps=maps)


def analyze_binary(pred: np.ndarray, gt: np.ndarray, *, d: int | None = None, d_frac: float = 0.01,
                   ignore: np.ndarray | None = None, connectivity: int = 8, return_maps: bool = False,
                   warn_zero_d: bool = True) -> ImageErrors:
    """Binary masks (True/nonzero = edited): the analysis of the foreground class only.

    Counts are for one class, "edited" (index 0 of the result). ``ignore``: optional
    boolean mask of ground-truth pixels to ignore. An authentic image (empty ground
    truth) with an empty prediction has an empty union: all ratios are NaN for that
    image alone and it adds only TN to the dataset sums, so it is scored as correct.
    """
    p = np.asarray(pred).astype(bool)
    g = np.asarray(gt).astype(bool)
    lab_p = p.astype(np.uint8)
    lab_g = g.astype(np.uint8)
    if ignore is not None:
        lab_g = np.where(np.asarray(ignore, dtype=bool), np.uint8(255), lab_g)
    res = analyze_labels(lab_p, lab_g, 2, ignore_index=255, d=d, d_frac=d_frac, classes=[1],
                         connectivity=connectivity, return_maps=return_maps, warn_zero_d=warn_zero_d)
    one = ErrorCounts(1, {k: v[1:2].copy() for k, v in res.counts.counts.items()})
    maps = res.error_maps[1:2] if res.error_maps is not None else None
    return ImageErrors(counts=one, d=res.d, error_maps=maps)


class ErrorAnalyzer:
    """Accumulates per-class counts over a dataset (sum counts, then ratios, then mean)."""

    def __init__(self, num_classes: int, *, ignore_index: int | None = 255, d: int | None = None,
                 d_frac: float = 0.01, class_names: Sequence[str] | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.d = d
        self.d_frac = d_frac
        self.class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        self.counts = ErrorCounts(num_classes)
        self.n_images = 0
        self.zero_d_images = 0

    def add(self, pred: np.ndarray, gt: np.ndarray, *, return_maps: bool = False) -> ImageErrors:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = analyze_labels(pred, gt, self.num_classes, ignore_index=self.ignore_index, d=self.d,
                                 d_frac=self.d_frac, return_maps=return_maps, warn_zero_d=False)
        if res.d == 0:
            if self.zero_d_images == 0:
                warnings.warn(f"boundary distance d is 0 for a {gt.shape[0]}x{gt.shape[1]} image: "
                              "no boundary errors can be found there", stacklevel=2)
            self.zero_d_images += 1
        self.counts.add(res.counts)
        self.n_images += 1
        return res

    def summary(self) -> dict[str, Any]:
        out = self.counts.summary(self.class_names)
        out["n_images"] = self.n_images
        out["zero_d_images"] = self.zero_d_images
        return out


def error_map_rgb(codes: np.ndarray) -> np.ndarray:
    """Colour-code an (H, W) error map (see ERROR_PALETTE) as uint8 RGB."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    for code, rgb in ERROR_PALETTE.items():
        lut[code % 256] = rgb
    return lut[codes.astype(np.int16) % 256]


def combined_error_map(maps: np.ndarray) -> np.ndarray:
    """One (H, W) map from per-class maps: the most severe code at each pixel.

    Severity: segment > extent > boundary > TP > TN; FP before FN at equal severity.
    Ignore stays ignore.
    """
    order = np.array([0, 2, 1, 5, 4, 7, 6, 9, 8], dtype=np.int16)  # rank by code 0..8
    m = maps.astype(np.int16)
    rank = np.where(m >= 0, order[np.clip(m, 0, 8)], -1)
    best = np.take_along_axis(m, rank.argmax(axis=0)[None], axis=0)[0]
    return best.astype(np.int8)
