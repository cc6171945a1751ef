"""Fine-grained error analysis: properties, the spec's worked example, connectivity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtrace.metrics.mask_errors import (
    FN_BND, FN_EXT, FN_SEG, FP_BND, FP_EXT, FP_SEG, IGNORE, TN, TP,
    ErrorAnalyzer, analyze_binary, analyze_labels, boundary_distance, class_error_sets,
    combined_error_map, dilate_disk, disk_kernel, error_map_rgb, ratios_from_counts,
)


def _blobs(rng: np.random.Generator, shape: tuple[int, int], n_classes: int, sigma: float) -> np.ndarray:
    noise = ndi.gaussian_filter(rng.random((n_classes, *shape)), sigma=(0, sigma, sigma))
    return noise.argmax(axis=0).astype(np.uint8)


def _pair(rng: np.random.Generator, shape=(40, 48), n_classes=4, ignore=True):
    gt = _blobs(rng, shape, n_classes, 3.0)
    pred = gt.copy()
    # shift part of the prediction (boundary/extent errors) and paste wrong blobs (segment errors)
    pred = np.roll(pred, rng.integers(-3, 4), axis=int(rng.integers(0, 2)))
    other = _blobs(rng, shape, n_classes, 2.0)
    sel = ndi.gaussian_filter(rng.random(shape), 2) > 0.56
    pred[sel] = other[sel]
    if ignore:
        gt[ndi.gaussian_filter(rng.random(shape), 2) > 0.58] = 255
        pred[rng.random(shape) < 0.01] = 255
    return pred, gt


def _reference(pred, gt, n_classes, d, ignore=255):
    """Independent, literal port of the reference implementation's per-class logic."""
    out = np.zeros((n_classes, 7), dtype=np.int64)  # TP, FPb, FPe, FPs, FNb, FNe, FNs
    k = disk_kernel(d) if d > 0 else np.ones((1, 1), bool)
    s8 = np.ones((3, 3), bool)
    valid = gt != ignore
    for c in range(n_classes):
        P, G = pred == c, (gt == c) & valid
        if not (P.any() or G.any()):
            continue
        tp, tn, fp, fn = P & G, ~P & ~G, P & ~G, ~P & G
        res = np.zeros(P.shape, np.int8)
        res[~valid] = -1
        res[tp & (res == 0)] = 1
        res[tn & (res == 0)] = 2
        tpx = ndi.binary_dilation(tp, k) & ~tp
        tnx = ndi.binary_dilation(tn, k) & ~tn
        tpc = ndi.binary_dilation(tp, s8) & ~tp
        tnc = ndi.binary_dilation(tn, s8) & ~tn
        for err, code in ((fp, 3), (fn, 4)):
            naive = err & tpx & tnx
            bmask = ndi.binary_dilation(naive, k) & err if naive.any() else naive
            lab, n = ndi.label(bmask, s8)
            for i in range(1, n + 1):
                seg = lab == i
                if not (tpc[seg].any() and tnc[seg].any()):
                    bmask[seg] = False
            res[bmask & (res == 0)] = code
        for M, codes in ((P, (5, 7)), (G, (6, 8))):
            lab, n = ndi.label(M, s8)
            for i in range(1, n + 1):
                seg = lab == i
                if (res[seg] == 0).any():
                    code = codes[0] if (res[seg] == 1).any() else codes[1]
                    res[seg & (res == 0)] = code
        assert not (res == 0).any()
        out[c] = [(res == v).sum() for v in (1, 3, 5, 7, 4, 6, 8)]
    return out


def _as_rows(counts):
    keys = ("TP", "FP_bnd", "FP_ext", "FP_seg", "FN_bnd", "FN_ext", "FN_seg")
    return np.stack([counts[k] for k in keys], axis=1)


def test_worked_example_from_the_paper():
    # Figure: A: IoU 44.1, E_bnd 26.6, E_ext 29.3, E_seg 0; B adds segment errors.
    a = ratios_from_counts(dict(TP=441, FP_bnd=266, FP_ext=293, FP_seg=0, FN_bnd=0, FN_ext=0, FN_seg=0))
    assert round(100 * a["IoU"][0], 1) == 44.1
    assert round(100 * a["E_bnd_renorm"][0], 1) == 37.6
    assert round(100 * a["E_ext_renorm"][0], 1) == 29.3
    b = ratios_from_counts(dict(TP=237, FP_bnd=142, FP_ext=157, FP_seg=464, FN_bnd=0, FN_ext=0, FN_seg=0))
    assert round(100 * b["IoU"][0], 1) == 23.7
    assert round(100 * b["E_seg_oU"][0], 1) == 46.4
    assert round(100 * b["E_bnd_renorm"][0], 1) == 37.5  # the figure prints 37.6 from unrounded inputs
    assert round(100 * b["E_ext_renorm"][0], 1) == 29.3  # unchanged by the added segment errors
    for r in (a, b):
        total = r["IoU"] + r["E_bnd_oU"] + r["E_ext_oU"] + r["E_seg_oU"]
        assert total[0] == pytest.approx(1.0)


def test_distance_rounding_and_disk():
    assert boundary_distance(150, 200, d_frac=0.01) == 2  # diagonal 250 → 2.5 → 2 (halves to even)
    assert boundary_distance(512, 512, d_frac=0.01) == 7
    assert boundary_distance(10, 10, d=3) == 3
    assert disk_kernel(1).all() and disk_kernel(1).shape == (3, 3)
    rng = np.random.default_rng(1)
    m = rng.random((30, 30)) < 0.02
    for d in (1, 2, 3, 5):
        assert np.array_equal(dilate_disk(m, d), ndi.binary_dilation(m, disk_kernel(d)))


@pytest.mark.parametrize("seed", range(12))
def test_categories_disjoint_cover_and_sum_to_one(seed):
    rng = np.random.default_rng(seed)
    pred, gt = _pair(rng)
    valid = gt != 255
    d = int(rng.integers(1, 4))
    for c in range(4):
        s = class_error_sets(pred == c, gt == c, d, gt_valid=valid)
        cats = [s.fp_bnd, s.fp_ext, s.fp_seg, s.fn_bnd, s.fn_ext, s.fn_seg]
        stack = np.stack(cats).astype(int)
        assert stack.sum(axis=0).max() <= 1  # disjoint
        assert np.array_equal(stack.sum(axis=0).astype(bool), s.fp | s.fn)  # cover FP ∪ FN
        assert not (s.fp_bnd & s.fp_seg_def).any() and not (s.fn_bnd & s.fn_seg_def).any()
    res = analyze_labels(pred, gt, 4, d=d, return_maps=True)
    r = res.counts.table()
    total = r["IoU"] + r["E_bnd_oU"] + r["E_ext_oU"] + r["E_seg_oU"]
    ok = ~np.isnan(r["IoU"])
    assert np.allclose(total[ok], 1.0)
    # the maps agree with the counts, and ignore pixels are never counted
    m = res.error_maps
    assert (m[:, ~valid] == IGNORE).all()
    for key, code in (("TP", TP), ("TN", TN), ("FP_bnd", FP_BND), ("FN_bnd", FN_BND), ("FP_ext", FP_EXT),
                      ("FN_ext", FN_EXT), ("FP_seg", FP_SEG), ("FN_seg", FN_SEG)):
        assert np.array_equal((m == code).sum(axis=(1, 2)), res.counts[key]), key


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_literal_port_of_the_reference(seed):
    rng = np.random.default_rng(100 + seed)
    pred, gt = _pair(rng, shape=(36, 44), n_classes=3)
    d = int(rng.integers(0, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = analyze_labels(pred, gt, 3, d=d)
    assert np.array_equal(_as_rows(got.counts), _reference(pred, gt, 3, d))


def test_ignore_conventions():
    gt = np.zeros((20, 20), np.uint8)
    gt[5:12, 5:12] = 1
    gt[5:12, 12:14] = 255  # ignore strip between the object and a predicted blob
    pred = np.zeros_like(gt)
    pred[5:12, 5:18] = 1  # covers object, ignore strip, and 4 columns beyond it
    res = analyze_labels(pred, gt, 2, d=1)
    c = res.counts
    # predicted ignore pixels link the far FP columns to the TP component: extent, not segment
    assert c["FP_seg"][1] == 0 and c["FP_bnd"][1] + c["FP_ext"][1] == 7 * 4
    assert c["ignore"][1] == 14
    # a prediction equal to the ignore label means "no class": FN for the true class
    pred2 = gt.copy()
    pred2[gt == 1] = 255
    res2 = analyze_labels(pred2, gt, 2, d=1)
    assert res2.counts["FN_seg"][1] == 49 and res2.counts["TP"][1] == 0


def test_four_connectivity_breaks_disjointness():
    # TP pixel with an FP pixel touching it only diagonally.
    gt = np.zeros((7, 7), bool)
    gt[2, 2] = True
    pred = gt.copy()
    pred[3, 3] = True
    s8 = class_error_sets(pred, gt, 1, connectivity=8)
    s4 = class_error_sets(pred, gt, 1, connectivity=4)
    assert s8.fp_bnd[3, 3] and not s8.fp_seg_def[3, 3]  # boundary error, its component holds TP
    assert s4.fp_bnd[3, 3] and s4.fp_seg_def[3, 3]  # both boundary AND segment by definition
    # on random cases 4-connectivity overlaps often; 8-connectivity never does
    rng = np.random.default_rng(7)
    overlaps4 = overlaps8 = 0
    for _ in range(60):
        g = rng.random((12, 12)) < 0.3
        p = rng.random((12, 12)) < 0.3
        a4 = class_error_sets(p, g, 1, connectivity=4)
        a8 = class_error_sets(p, g, 1, connectivity=8)
        overlaps4 += bool((a4.fp_bnd & a4.fp_seg_def).any() or (a4.fn_bnd & a4.fn_seg_def).any())
        overlaps8 += bool((a8.fp_bnd & a8.fp_seg_def).any() or (a8.fn_bnd & a8.fn_seg_def).any())
    assert overlaps8 == 0 and overlaps4 > 0


def test_zero_distance_warns_and_finds_no_boundary_errors():
    gt = np.zeros((30, 30), bool)
    gt[10:20, 10:20] = True
    pred = np.zeros_like(gt)
    pred[11:21, 10:20] = True
    with pytest.warns(UserWarning, match="d is 0"):
        res = analyze_binary(pred, gt, d_frac=0.01)  # diagonal 42 → d 0
    assert res.d == 0 and res.counts["FP_bnd"][0] == 0 and res.counts["FP_ext"][0] == 10
    res1 = analyze_binary(pred, gt, d=1)
    assert res1.counts["FP_bnd"][0] == 10 and res1.counts["FN_bnd"][0] == 10


def test_binary_authentic_images_and_dataset_aggregation():
    empty = np.zeros((64, 64), bool)
    res = analyze_binary(empty, empty)
    assert res.counts["TN"][0] == 64 * 64 and np.isnan(res.counts.table()["IoU"][0])
    an = ErrorAnalyzer(3, d=1)
    g = np.zeros((20, 20), np.uint8)
    g[4:10, 4:10] = 1
    p = g.copy()
    p[4:10, 10:13] = 1
    an.add(p, g)
    an.add(np.full_like(g, 2), np.full_like(g, 2))  # class 2 perfect on its own image
    s = an.summary()
    rows = {r["class"]: r for r in s["per_class"]}
    assert rows["1"]["TP"] == 36 and rows["1"]["FP_bnd"] + rows["1"]["FP_ext"] == 18
    assert rows["2"]["IoU"] == 1.0 and rows["2"]["E_bnd_renorm"] == 0.0
    # class 1 IoU: 36 / 54; NaN-free classes only in each mean
    assert rows["1"]["IoU"] == pytest.approx(36 / 54)
    assert s["classes_in_mean"]["IoU"] == 3
    assert s["mean"]["IoU"] == pytest.approx(np.mean([rows[k]["IoU"] for k in "012"]))


def test_colour_maps():
    pred, gt = _pair(np.random.default_rng(3))
    res = analyze_labels(pred, gt, 4, d=2, return_maps=True)
    comb = combined_error_map(res.error_maps)
    rgb = error_map_rgb(comb)
    assert rgb.shape == (*gt.shape, 3) and rgb.dtype == np.uint8
    assert (comb[gt == 255] == IGNORE).all()
    errs = (res.error_maps >= 3).any(axis=0)
    assert np.array_equal(comb >= 3, errs)


def _scattered_pair(rng: np.random.Generator, shape=(96, 112), n_classes=6):
    """Many small, far-apart regions per class (several crops per class), shifted and
    with wrong-class patches, ignore blocks and a few predicted-ignore pixels."""
    gt = np.zeros(shape, np.uint8)
    coarse = rng.integers(0, n_classes, (shape[0] // 8, shape[1] // 8)).astype(np.uint8)
    gt[:] = np.kron(coarse, np.ones((8, 8), np.uint8))[: shape[0], : shape[1]]
    pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
    for _ in range(5):
        y, x = rng.integers(0, shape[0] - 10), rng.integers(0, shape[1] - 10)
        pred[y:y + int(rng.integers(1, 10)), x:x + int(rng.integers(1, 10))] = rng.integers(0, n_classes)
    gt[rng.random(shape) < 0.02] = 255
    pred[rng.random(shape) < 0.005] = 255
    return pred, gt


@pytest.mark.parametrize("seed", range(6))
def test_region_crops_are_exact(seed, monkeypatch):
    """Per-region crops (and the OpenCV fast path) give exactly the whole-image result."""
    import synthtrace.metrics.mask_errors as ea

    rng = np.random.default_rng(300 + seed)
    pred, gt = _scattered_pair(rng)
    d = [0, 1, 2, 3, 5, 7][seed]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = analyze_labels(pred, gt, 6, d=d, return_maps=True)
        assert np.array_equal(_as_rows(got.counts), _reference(pred, gt, 6, d))
        if ea._cv2 is not None and d <= 3:  # several crops per class really happen here
            n_crops = [len(ea._region_crops((pred == c) | (gt == c), (0, 0), max(d, 1) + 1, gt.shape))
                       for c in range(6)]
            assert max(n_crops) > 1
        monkeypatch.setattr(ea, "_cv2", None)  # scipy path, one box per class
        slow = analyze_labels(pred, gt, 6, d=d, return_maps=True)
    for k in ("TP", "TN", "FP_bnd", "FP_ext", "FP_seg", "FN_bnd", "FN_ext", "FN_seg", "ignore"):
        assert np.array_equal(got.counts[k], slow.counts[k]), k
    assert np.array_equal(got.error_maps, slow.error_maps)
