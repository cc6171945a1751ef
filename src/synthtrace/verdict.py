"""Verdict: one documented fusion rule over ``Evidence`` items (docs/verdict.md).

The rule is deliberately simple enough to explain to a reader of a fact-check:

1. **Declared provenance first.** What the file says about itself decides, in
   order of how hard it is to forge: C2PA signed by a trusted signer, then C2PA
   signed by an unknown signer, then unsigned declarations (IPTC digital source
   type, generator software names, generator parameters, invisible watermarks,
   C2PA whose signature no longer validates). Only "made with AI" declarations
   decide at every tier: generators write them and nobody gains by forging them.
   A camera-capture claim decides only when signed by a trusted signer, because
   "this is a real photo" is exactly what someone passing off a fake would write.
2. **Otherwise, weigh the rest.** Pixel signals, learned detectors and the weak
   metadata (unsigned capture claims, camera EXIF) are pooled as a
   reliability-tempered log-odds sum, and the verdict abstains ("uncertain")
   when the sum is small, when the pixel evidence is unreliable for this file,
   when two strong items disagree, or when only metadata points the way. A
   learned detector counts only as far as it was validated on real images: one
   validated only on synthetic data (the demo's) is shown and not counted.
3. **Contradictions are shown**, whatever the label.

Evidence with ``error`` set is listed as "could not be read" and never counts;
absence of metadata (direction "none") counts for nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from synthtrace.errors import InputError
from synthtrace.records import Detection, Evidence, Verdict

__all__ = [
    "BAND", "LABELS", "MAX_STRENGTH", "MIN_RELIABILITY", "UNVALIDATED_DETECTOR_RELIABILITY", "decide",
    "detection_evidence", "real_world_reliability", "validation_block", "validation_reliability", "weight",
]

LABELS: dict[str, str] = {
    "declared_ai_generated": "Declared AI-generated",
    "declared_camera_capture": "Declared camera capture",
    "likely_generated": "Likely generated",
    "likely_authentic": "Likely authentic",
    "uncertain": "Uncertain",
}
"""Verdict labels and their human-readable names."""

MAX_STRENGTH = 0.95
"""Strength is clipped here before it becomes log-odds, so no single item is
worth more than 39:1 (ln 39 = 3.66) before its reliability is applied: no
signal in synthtrace is validated well enough to claim more."""

BAND = math.log(4.0)
"""Abstention band: |score| < ln 4 = 1.39 is "uncertain". After discounting for
reliability the evidence must favour one side at least 4:1 at face value. A
calibrated detector at p = 0.9 on a clean file (reliability 0.92) scores 2.0 and
passes; p = 0.8 scores 1.28 and does not; the peak score at its own threshold
(0.55) on a lossless file scores 1.24 and does not on its own."""

MIN_RELIABILITY = 0.4
"""At least one pixel/detector item that points somewhere must have reliability
>= 0.4. ``pixel_reliability`` falls below this for JPEG quality under about 52,
or quality 60 with a platform resize: the pixels have been rewritten more than
preserved, so "likely" either way would not be defensible."""

UNVALIDATED_DETECTOR_RELIABILITY = 0.25
"""Reliability given to a detector whose bundle has no real-world validation (its
``validation`` block is missing or says ``real_world: false``). Below
``MIN_RELIABILITY`` and below BAND / ln 39 = 0.378, so even at p = 0.99 it weighs
at most 0.92, inside the band; and ``decide`` does not count it at all (it is
shown, with what it would weigh): unproven evidence cannot move a verdict."""

AI_TERMS = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"})
"""IPTC digital source types that declare a generated image (or a composite with
generated parts)."""

CAPTURE_TERMS = frozenset({"digitalCapture", "computationalCapture"})
"""IPTC digital source types that declare a camera capture (computationalCapture is
what phone cameras with HDR/night modes sign)."""

PROVENANCE_SOURCES = frozenset({"c2pa", "iptc", "xmp", "exif", "params", "watermark", "metadata", "provenance"})
"""Sources that read what the file says about itself; every other source
(``spectrum``, ``detector``, ...) looks at the pixels."""

TIER_NAMES = ("signed, trusted signer", "signed, unknown signer", "unsigned")
_SIGNED_TIER = {"trusted": 0, "valid_untrusted": 1}


@dataclass(frozen=True)
class _Item:
    """One evidence item and what the rule makes of it."""

    ev: Evidence
    kind: str  # "error" | "none" | "declared_ai" | "declared_capture" | "pool" | "unvalidated"
    tier: int = 2
    pixel: bool = False
    capture_claim: bool = False
    contribution: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.ev.source}/{self.ev.name}"


def weight(strength: float, reliability: float) -> float:
    """Log-odds worth of one item, >= 0: ``reliability * ln((1 + s) / (1 - s))``.

    ``s`` is the strength clipped to 0..MAX_STRENGTH. For a detector, whose
    strength is |2p - 1|, ``ln((1 + s) / (1 - s))`` is exactly |logit p|, so the
    formula gives back the detector's own log-odds. Multiplying by reliability
    raises the item's likelihood ratio to that power (tempered evidence): an item
    we trust half as much counts for the square root of its odds.
    """
    s = _unit(strength, MAX_STRENGTH)
    return _unit(reliability, 1.0) * math.log((1.0 + s) / (1.0 - s))


def detection_evidence(detection: Detection, *, reliability: float,
                       validation: Mapping[str, Any] | None = None) -> Evidence:
    """A learned detector's calibrated probability as an Evidence item.

    Direction is "generated" when p >= 0.5, strength is |2p - 1| (0 at a coin
    flip, 1 at certainty). ``reliability`` is what the file allows: its JPEG
    history (``synthtrace.signals.pixel_reliability``), which the detector knows
    nothing about. ``validation`` is the bundle's validation block
    (``DetectorBundle.validation``, docs/verdict.md): the item's reliability is
    then min(reliability, ``validation_reliability(validation)``), and a bundle
    without real-world validation is marked so and not counted by ``decide``.
    ``validation=None`` means the caller vouches for ``reliability`` itself.
    """
    p = float(detection.probability)
    if not 0.0 <= p <= 1.0:
        raise InputError(f"detection probability {detection.probability!r}: expected a calibrated probability "
                         "in 0..1; pass DetectorBundle.detections(...) output, not raw scores")
    r = float(reliability)
    if not 0.0 <= r <= 1.0:
        raise InputError(f"reliability {reliability!r}: expected 0..1; use the pixel reliability "
                         "from the JPEG history (synthtrace.signals.pixel_reliability)")
    name = detection.detector or "unnamed detector"
    direction = "generated" if p >= 0.5 else "authentic"
    details = detection.to_dict()
    caveat = "" if r >= 0.8 else f" This file's compression history lowers how far it can be trusted ({r:.2f} of 1)."
    how = "It was validated on the data it was trained for"
    if validation is not None:
        v = dict(validation)
        validated = v.get("real_world") is True and _valid_reliability(v.get("reliability"))
        bundle_r = validation_reliability(v)
        details["validation"] = v
        details["real_world_validated"] = bool(validated)
        details["history_reliability"] = r
        r = min(r, bundle_r)
        if validated:
            how = (f"Its reliability on real images, {bundle_r:.2f} of 1, was measured on {_data_name(v)}"
                   f"{_counts(v)}")
        else:
            only = f" (only on {v['data']})" if v.get("data") else ""
            how = (f"It has not been validated on real images{only}, so it is shown but not counted toward the "
                   "verdict")
    return Evidence(
        source="detector", name=detection.detector or "detector", direction=direction, strength=abs(2.0 * p - 1.0),
        reliability=r, details=details,
        explanation=f"The learned detector {name!r} gives a calibrated probability of {p:.2f} that the image is "
        f"generated. {how}; generators, edits or sources unlike that data can fool it.{caveat}")


def validation_reliability(validation: Mapping[str, Any] | None) -> float:
    """A bundle's reliability on real images from its validation block (0..1).

    ``validation["reliability"]`` when the block says ``real_world: true`` and holds a
    reliability in 0..1; otherwise ``UNVALIDATED_DETECTOR_RELIABILITY``.
    """
    v = validation or {}
    if v.get("real_world") is True and _valid_reliability(v.get("reliability")):
        return float(v["reliability"])
    return UNVALIDATED_DETECTOR_RELIABILITY


def real_world_reliability(y_true: Sequence[int] | Any, probability: Sequence[float] | Any, *,
                           n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
    """(conservative reliability, maximum-likelihood reliability) of a detector on labelled data.

    The verdict multiplies a detector's log-odds by its reliability r (``weight``).
    The r that fits real validation data best is the one that maximises the
    likelihood of p_r = sigmoid(r * logit p) (logit clipped at ln 39, as
    ``weight`` does), searched in 0..1: 1 for a detector whose probabilities hold
    on this data, about 0 for one at chance or worse. The conservative value is
    the 5th percentile of that estimate over ``n_boot`` bootstrap resamples
    (stratified by class), because a small validation set flatters. ``y_true``:
    1 = generated.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(probability, dtype=np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise InputError(f"y_true ({y.shape}) and probability ({p.shape}) must be non-empty and the same length")
    if not np.all((y == 0) | (y == 1)) or len(set(y.tolist())) < 2:
        raise InputError("y_true must hold both classes as 0 (real) and 1 (generated)")
    if not np.all((p >= 0) & (p <= 1)):
        raise InputError("probability must be calibrated probabilities in 0..1 (DetectorBundle.detections)")
    cap = math.log((1 + MAX_STRENGTH) / (1 - MAX_STRENGTH))
    logit = np.clip(np.log(np.clip(p, 1e-12, 1.0)) - np.log(np.clip(1.0 - p, 1e-12, 1.0)), -cap, cap)
    grid = np.linspace(0.0, 1.0, 101)

    def best(idx: np.ndarray) -> float:
        z = np.outer(grid, logit[idx])  # log-likelihood of every r on the grid, at once
        ll = (y[idx] * -np.logaddexp(0.0, -z) + (1 - y[idx]) * -np.logaddexp(0.0, z)).sum(axis=1)
        return float(grid[int(np.argmax(ll))])

    ml = best(np.arange(y.size))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boots = [best(np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])) for _ in range(n_boot)]
    return float(np.quantile(boots, 0.05)) if boots else ml, ml


def validation_block(y_true: Sequence[int] | Any, probability: Sequence[float] | Any, *, data: str,
                     real_world: bool, **extra: Any) -> dict[str, Any]:
    """The ``validation`` block of a detector bundle's config, measured on labelled data.

    ``data`` names the data set ("real-world: ..." for real photos and real generator
    outputs); ``real_world`` says whether it is. Fields: data, real_world, n_real,
    n_fake, auc, reliability (conservative, see ``real_world_reliability``),
    reliability_ml, method, plus ``extra`` (e.g. per-family AUCs).
    """
    from sklearn.metrics import roc_auc_score  # heavy: sklearn

    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probability, dtype=np.float64).ravel()
    conservative, ml = real_world_reliability(y, p)
    block = {
        "data": str(data), "real_world": bool(real_world), "n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum()),
        "auc": round(float(roc_auc_score(y, p)), 4), "reliability": round(conservative, 2),
        "reliability_ml": round(ml, 2),
        "method": "tempering exponent of the detector's log-odds fitted by maximum likelihood in 0..1; "
                  "reliability = 5th percentile over 200 stratified bootstrap resamples",
    }
    block.update(extra)
    return block


def _valid_reliability(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0.0 <= x <= 1.0


def _data_name(v: Mapping[str, Any]) -> str:
    return str(v.get("data") or "no recorded data")


def _counts(v: Mapping[str, Any]) -> str:
    if isinstance(v.get("n_real"), int) and isinstance(v.get("n_fake"), int):
        return f" ({v['n_real']} real, {v['n_fake']} generated images)"
    return ""


def decide(evidence: Sequence[Evidence] | Iterable[Evidence]) -> Verdict:
    """Fuse evidence items into a Verdict with the rule in the module docstring.

    The result does not depend on the order of ``evidence``.
    """
    items = sorted((_classify(e) for e in evidence), key=_sort_key)
    declared = [i for i in items if i.kind in ("declared_ai", "declared_capture")]
    pool = [i for i in items if i.kind == "pool"]
    pix = [i for i in pool if i.pixel]
    score = math.fsum(i.contribution for i in pool) if pool else None
    l_pix = math.fsum(i.contribution for i in pix)

    contradictions = _contradictions(items, l_pix)
    reasons: list[str] = []
    if declared:
        tier = min(i.tier for i in declared)
        deciders = [i for i in declared if i.tier == tier and i.kind == "declared_ai"]
        label = "declared_ai_generated"
        if not deciders:
            deciders = [i for i in declared if i.tier == tier]
            label = "declared_camera_capture"
        summary = _declared_summary(label, tier, deciders)
        reasons += [f"Decides ({_tier_name(i)}): {i.ref}: {i.ev.explanation}" for i in deciders]
        reasons += [f"Declaration ({_tier_name(i)}), outranked: {i.ref}: {i.ev.explanation}"
                    for i in declared if i not in deciders]
        if label == "declared_ai_generated":
            reasons += _declared_vs_detector_notes(items)
    else:
        label, summary = _fuse(pool, pix, score, l_pix, any(i.kind == "unvalidated" for i in items))
    reasons += [f"Weighed {i.contribution:+.2f} ({i.ev.direction}, strength {_unit(i.ev.strength, 1):.2f} x "
                f"reliability {_unit(i.ev.reliability, 1):.2f}): {i.ref}: {i.ev.explanation}"
                for i in sorted(pool, key=lambda i: -abs(i.contribution))]
    reasons += [f"Shown, not counted (no real-world validation; it would weigh {i.contribution:+.2f}): {i.ref}: "
                f"{i.ev.explanation}" for i in items if i.kind == "unvalidated"]
    reasons += [f"Context: {i.ref}: {i.ev.explanation}" for i in items if i.kind == "none" and i.ev.source == "jpeg"]
    quiet = sorted({i.ref for i in items if i.kind == "none" and i.ev.source != "jpeg"})
    if quiet:
        reasons.append(f"No evidence either way (absence proves nothing): {', '.join(quiet)}.")
    reasons += [f"Could not be read, not counted: {i.ref}: {i.ev.error}" for i in items if i.kind == "error"]
    if contradictions:
        summary += f" {len(contradictions)} contradiction(s) shown below."
    return Verdict(label=label, summary=summary, reasons=tuple(reasons),
                   contradictions=tuple(contradictions), score=score)


# ---------------------------------------------------------------- internals --


def _unit(x: float, top: float) -> float:
    """Clip to 0..top; NaN and non-numbers count as 0 (a broken item must not count)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return 0.0
    return min(max(x, 0.0), top) if math.isfinite(x) else 0.0


def _term(value: object) -> str:
    """Bare IPTC term from a full URI or a bare term ("" when missing)."""
    return str(value or "").strip().rstrip("/").rsplit("/", 1)[-1]


def _in(term: str, terms: frozenset[str]) -> bool:
    return term.lower() in {t.lower() for t in terms}


def _c2pa_terms(ev: Evidence) -> list[str]:
    """The source types a C2PA item rests on: the active manifest's, else its ingredients'."""
    d = ev.details if isinstance(ev.details, dict) else {}
    if d.get("digital_source_type"):
        return [_term(d["digital_source_type"])]
    terms = []
    for ing in d.get("ingredients") or []:
        for act in (ing.get("actions") or []) if isinstance(ing, dict) else []:
            if isinstance(act, dict) and act.get("digital_source_type"):
                terms.append(_term(act["digital_source_type"]))
    return terms


def _classify(ev: Evidence) -> _Item:
    if ev.error:
        return _Item(ev, "error")
    if ev.direction not in ("generated", "authentic"):
        return _Item(ev, "none")
    gen = ev.direction == "generated"
    d = ev.details if isinstance(ev.details, dict) else {}
    if ev.source == "detector" and d.get("real_world_validated") is False:
        return _Item(ev, "unvalidated", pixel=True,
                     contribution=(1.0 if gen else -1.0) * weight(ev.strength, ev.reliability))
    pool = _Item(ev, "pool", pixel=ev.source not in PROVENANCE_SOURCES,
                 contribution=(1.0 if gen else -1.0) * weight(ev.strength, ev.reliability))
    if ev.source == "c2pa":
        tier = _SIGNED_TIER.get(str(d.get("state")), 2)  # an invalid manifest is no better than unsigned
        terms = _c2pa_terms(ev)
        if gen and any(_in(t, AI_TERMS) for t in terms):
            return _Item(ev, "declared_ai", tier=tier)
        capture = not gen and any(_in(t, CAPTURE_TERMS) for t in terms)
        if capture and tier == 0:
            return _Item(ev, "declared_capture", tier=0, capture_claim=True)
        return replace(pool, capture_claim=capture)
    if ev.source == "iptc":
        term = _term(d.get("term") or d.get("value"))
        if gen and _in(term, AI_TERMS):
            return _Item(ev, "declared_ai")
        return replace(pool, capture_claim=not gen and _in(term, CAPTURE_TERMS))
    if gen and (ev.source in ("params", "watermark") or (ev.source in ("xmp", "exif") and ev.name == "software")):
        return _Item(ev, "declared_ai")
    if ev.source in ("xmp", "exif") and ev.name == "camera" and not gen:
        return replace(pool, capture_claim=True)
    return pool


def _sort_key(item: _Item) -> tuple[str, ...]:
    """A total order on items, so neither the verdict nor its text depends on input order."""
    e = item.ev
    try:
        details = json.dumps(e.details, sort_keys=True, default=str)
    except (TypeError, ValueError):
        details = repr(e.details)
    return (e.source, e.name, e.direction, repr(e.strength), repr(e.reliability), e.explanation, e.error or "", details)


def _fuse(pool: list[_Item], pix: list[_Item], score: float | None, l_pix: float,
          unvalidated: bool = False) -> tuple[str, str]:
    """Step 2: label and summary from the pooled evidence, abstaining when it is not defensible."""
    if not pix and unvalidated:
        return "uncertain", ("Uncertain: the only detector that points either way has not been validated on real "
                             "images, so it is shown but not counted; no other pixel evidence points either way.")
    if not pix and pool:
        return "uncertain", ("Uncertain: no pixel signal or detector points either way, and the file's own claims "
                             "(a capture claim without a trusted signature, camera fields) are too easy to forge "
                             "to decide alone.")
    if not pix:
        return "uncertain", ("Uncertain: no provenance declares how the image was made, and no pixel signal or "
                             "detector points either way.")
    best = max(_unit(i.ev.reliability, 1) for i in pix)
    if best < MIN_RELIABILITY:
        # A validated detector whose own real-world reliability, not the file, is the limit says so.
        limited = [i for i in pix if isinstance(i.ev.details, dict)
                   and _unit(i.ev.details.get("history_reliability"), 1) > _unit(i.ev.reliability, 1)]
        why = ("the detector's reliability measured on real images is that low" if limited and
               len(limited) == len(pix) else "for example after heavy recompression or resizing")
        return "uncertain", (f"Uncertain: the pixel evidence is too unreliable for this file (best reliability "
                             f"{best:.2f}, below {MIN_RELIABILITY}), {why}.")
    strong = [i for i in pool if abs(i.contribution) >= BAND]
    if {i.ev.direction for i in strong} == {"generated", "authentic"}:
        return "uncertain", "Uncertain: strong pieces of evidence disagree (see the contradictions)."
    assert score is not None  # pix is non-empty
    if abs(score) < BAND:
        return "uncertain", (f"Uncertain: the weighed evidence (score {score:+.2f}) is inside the abstention band "
                             f"of +/-{BAND:.2f}.")
    if l_pix == 0.0 or (l_pix > 0) != (score > 0):
        return "uncertain", ("Uncertain: only the file's unsigned metadata points this way; the pixel evidence "
                             "does not, and metadata alone is too easy to forge.")
    if score > 0:
        return "likely_generated", (f"Likely generated: pixel and detector evidence favour a generated image "
                                    f"(score {score:+.2f}, beyond the +/-{BAND:.2f} abstention band).")
    return "likely_authentic", (f"Likely authentic: pixel and detector evidence favour a camera image "
                                f"(score {score:+.2f}, beyond the +/-{BAND:.2f} abstention band). This is not proof: "
                                "detectors miss generators unlike their training data.")


def _tier_name(item: _Item) -> str:
    if item.tier == 2 and item.ev.source == "c2pa":
        return "signed, but the signature does not validate: counted as unsigned"
    return TIER_NAMES[item.tier]


def _declared_summary(label: str, tier: int, deciders: list[_Item]) -> str:
    refs = ", ".join(i.ref for i in deciders)
    if label == "declared_camera_capture":
        return (f"Declared camera capture: Content Credentials (C2PA) signed by a trusted signer say the image is an "
                f"original capture ({refs}).")
    how = {
        0: "Content Credentials (C2PA) signed by a trusted signer say it was made with generative AI",
        1: "Content Credentials (C2PA) with a valid signature from a signer not known to be trustworthy say it "
           "was made with generative AI",
        2: "the file's unsigned metadata declares it was made with generative AI; such labels can be removed, "
           "but generators write them and people rarely forge them",
    }[tier]
    if tier == 2 and all(i.ev.source == "c2pa" for i in deciders):
        how = ("the file's Content Credentials (C2PA) say it was made with generative AI, but their signature no "
               "longer validates, so the claim counts as unsigned")
    return f"Declared AI-generated: {how} ({refs})."


def _declared_vs_detector_notes(items: list[_Item]) -> list[str]:
    """Declared generated while a detector says authentic: not a contradiction of the verdict, but noted."""
    authentic = [i for i in items if i.kind == "pool" and i.ev.source == "detector" and i.contribution <= -BAND]
    declared = [i for i in items if i.kind == "declared_ai" and i.ev.source != "params"]
    if not authentic or not declared:
        return []
    return [f"Note: {', '.join(i.ref for i in authentic)} says authentic, but {', '.join(i.ref for i in declared)} "
            "declares the image generated; the declaration decides. Detectors miss generators unlike their "
            "training data, and a declared composite can be mostly camera pixels."]


def _contradictions(items: list[_Item], l_pix: float) -> list[str]:
    out: list[str] = []
    c2pa = [i for i in items if i.kind != "error" and i.ev.source == "c2pa" and isinstance(i.ev.details, dict)]
    for i in c2pa:
        if i.ev.details.get("state") == "invalid":
            codes = ", ".join(str(f.get("code")) for f in i.ev.details.get("failures") or [] if isinstance(f, dict))
            out.append(f"{i.ref}: the Content Credentials do not validate ({codes or 'no code given'}): the file was "
                       "changed after it was signed, or the credentials are damaged. Its claims are treated as "
                       "unsigned.")
    recompressed = any(
        i.kind != "error" and i.ev.source == "jpeg" and isinstance(i.ev.details, dict)
        and isinstance(i.ev.details.get("double_compression"), dict) and i.ev.details["double_compression"].get("flagged")
        for i in items)
    if recompressed:
        for i in c2pa:
            if i.ev.details.get("state") in _SIGNED_TIER:
                out.append(f"{i.ref}: the Content Credentials validate, but the signed file itself shows an earlier "
                           "JPEG save (double compression): it was recompressed before it was signed, so the signer "
                           "did not sign the original capture.")
    claims = [i for i in items if i.capture_claim]
    ai = [i for i in items if i.kind == "declared_ai"]
    if claims and ai:
        out.append(f"{', '.join(i.ref for i in claims)} claim(s) a camera capture, but "
                   f"{', '.join(i.ref for i in ai)} declare(s) the image generated.")
    if claims and l_pix >= BAND:
        out.append(f"{', '.join(i.ref for i in claims)} claim(s) a camera capture, but the pixel and detector "
                   f"evidence says generated (pixel score {l_pix:+.2f}).")
    params = [i for i in items if i.kind == "declared_ai" and i.ev.source == "params"]
    det_auth = [i for i in items if i.kind == "pool" and i.ev.source == "detector" and i.contribution <= -BAND]
    if params and det_auth:
        out.append(f"{', '.join(i.ref for i in params)}: generator parameters are present, but "
                   f"{', '.join(i.ref for i in det_auth)} says authentic. Parameters are written into the raw "
                   "output, so either the detector missed this generator or the parameters were copied onto "
                   "another image.")
    strong = [i for i in items if i.kind == "pool" and abs(i.contribution) >= BAND]
    gen = [i.ref for i in strong if i.contribution > 0]
    auth = [i.ref for i in strong if i.contribution < 0]
    if gen and auth:
        out.append(f"Strong evidence disagrees: {', '.join(gen)} say(s) generated, {', '.join(auth)} say(s) "
                   "authentic.")
    return out
