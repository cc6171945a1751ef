"""The verdict rule: one test per row of the case table in docs/verdict.md, plus properties.

Evidence items are hand-made with the same source/name/direction/strength/
reliability/details values the provenance readers and pixel signals emit, so no
files are needed.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from synthtrace.errors import InputError
from synthtrace.records import Detection, Evidence, Verdict
from synthtrace.verdict import (
    BAND,
    LABELS,
    MIN_RELIABILITY,
    UNVALIDATED_DETECTOR_RELIABILITY,
    decide,
    detection_evidence,
    real_world_reliability,
    validation_block,
    validation_reliability,
    weight,
)

URI = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA_REL = {"trusted": 0.95, "valid_untrusted": 0.5, "invalid": 0.1}
TERMS = {  # as provenance.metadata.DIGITAL_SOURCE_TYPES
    "trainedAlgorithmicMedia": ("generated", 1.0),
    "compositeWithTrainedAlgorithmicMedia": ("generated", 0.8),
    "digitalCapture": ("authentic", 0.8),
}


# ------------------------------------------------------------ evidence makers --


def c2pa(state: str, term: str | None = None, *, ingredient_term: str | None = None,
         failures: tuple[str, ...] = ()) -> Evidence:
    details = {"state": state, "failures": [{"code": c, "explanation": ""} for c in failures],
               "signer": "Test Signer", "actions": [], "ingredients": []}
    direction, strength = "none", 0.0
    if term:
        direction, strength = TERMS[term]
        details["digital_source_type"] = URI + term
        details["actions"] = [{"action": "c2pa.created", "digital_source_type": URI + term}]
    elif ingredient_term:
        direction, strength = "generated", TERMS[ingredient_term][1] * 0.8
        details["ingredients"] = [{"title": "in.png", "actions": [
            {"action": "c2pa.created", "digital_source_type": URI + ingredient_term}]}]
    return Evidence(source="c2pa", name="c2pa_manifest", direction=direction, strength=strength,
                    reliability=C2PA_REL[state] if direction != "none" else 0.0,
                    explanation=f"C2PA manifest, {state}.", details=details)


def iptc(term: str) -> Evidence:
    direction, strength = TERMS[term]
    return Evidence(source="iptc", name="digital_source_type", direction=direction, strength=strength,
                    reliability=0.6 if direction == "generated" else 0.2,
                    explanation=f"IPTC says {term}.", details={"value": URI + term, "term": term, "signed": False})


def camera() -> Evidence:
    return Evidence(source="exif", name="camera", direction="authentic", strength=0.3, reliability=0.15,
                    explanation="EXIF names a camera.", details={"make": "Canon", "model": "EOS R5"})


def software_generator() -> Evidence:
    return Evidence(source="exif", name="software", direction="generated", strength=0.9, reliability=0.6,
                    explanation="EXIF Software names Adobe Firefly.", details={"software": "Adobe Firefly",
                                                                                "generator": "Adobe Firefly"})


def params() -> Evidence:
    return Evidence(source="params", name="a1111_parameters", direction="generated", strength=0.95, reliability=0.6,
                    explanation="A1111 parameters.", details={"generator": "AUTOMATIC1111", "seed": 1})


def watermark() -> Evidence:
    return Evidence(source="watermark", name="sdxl", direction="generated", strength=0.95, reliability=0.8,
                    explanation="SDXL watermark.", details={"bit_accuracy": 1.0})


def detector(p: float, r: float, name: str = "cnn-small") -> Evidence:
    det = Detection(score=math.log(p / (1 - p)), probability=p, decision="fake" if p >= 0.5 else "real",
                    threshold=0.0, detector=name)
    return detection_evidence(det, reliability=r)


def spectrum(score: float, r: float) -> Evidence:
    return Evidence(source="spectrum", name="periodic_peaks", direction="generated" if score >= 0.55 else "none",
                    strength=score, reliability=r, explanation="Periodic peaks.", details={"threshold": 0.55})


def jpeg(double: bool = False) -> Evidence:
    return Evidence(source="jpeg", name="jpeg_history", reliability=1.0, explanation="JPEG q90.",
                    details={"is_jpeg": True, "quality": 90.0,
                             "double_compression": {"flagged": double, "p_value": 1e-9 if double else 0.5}})


ABSENT = [
    Evidence(source="c2pa", name="c2pa_manifest", explanation="No C2PA.", details={"state": "absent"}),
    Evidence(source="params", name="generator_parameters", explanation="No parameters."),
    Evidence(source="watermark", name="invisible_watermark", explanation="No watermark.", details={"checked": True}),
]
ERRORS = [
    Evidence(source="c2pa", name="c2pa_manifest", error="C2PA data could not be read: truncated JUMBF",
             details={"state": "unreadable"}),
    Evidence(source="exif", name="exif", error="EXIF block is truncated"),
    # a malformed item that claims a direction AND has an error: the error wins, it never counts
    Evidence(source="detector", name="broken", direction="generated", strength=1.0, reliability=1.0, error="boom"),
    Evidence(source="iptc", name="digital_source_type", direction="generated", strength=1.0, reliability=1.0,
             error="XMP packet uses a DTD", details={"term": "trainedAlgorithmicMedia"}),
]


# ------------------------------------------------------------------ the table --
# (id, evidence, label, substrings of the contradictions, in order; substrings expected in the reasons)

CASES = [
    ("trusted_c2pa_ai", [c2pa("trusted", "trainedAlgorithmicMedia"), *ABSENT],
     "declared_ai_generated", [], ["Decides (signed, trusted signer): c2pa/c2pa_manifest"]),
    ("trusted_c2pa_capture", [c2pa("trusted", "digitalCapture"), jpeg()],
     "declared_camera_capture", [], ["Decides (signed, trusted signer)", "Context: jpeg/jpeg_history"]),
    ("trusted_capture_pixels_generated", [c2pa("trusted", "digitalCapture"), detector(0.97, 0.92)],
     "declared_camera_capture", ["claim(s) a camera capture, but the pixel and detector evidence says generated"],
     ["Weighed +"]),
    ("trusted_capture_recompressed", [c2pa("trusted", "digitalCapture"), jpeg(double=True)],
     "declared_camera_capture", ["recompressed before it was signed"], []),
    ("untrusted_c2pa_ai", [c2pa("valid_untrusted", "compositeWithTrainedAlgorithmicMedia")],
     "declared_ai_generated", [], ["Decides (signed, unknown signer)"]),
    ("untrusted_c2pa_capture", [c2pa("valid_untrusted", "digitalCapture")],
     "uncertain", [], ["Weighed -1.10"]),
    ("trusted_c2pa_ingredient_ai", [c2pa("trusted", ingredient_term="trainedAlgorithmicMedia")],
     "declared_ai_generated", [], ["Decides (signed, trusted signer)"]),
    ("invalid_c2pa_capture_pixels_generated",
     [c2pa("invalid", "digitalCapture", failures=("assertion.dataHash.mismatch",)), detector(0.97, 0.92)],
     "likely_generated",
     ["(assertion.dataHash.mismatch): the file was changed after it was signed",
      "claim(s) a camera capture, but the pixel and detector evidence says generated"], []),
    ("invalid_c2pa_ai", [c2pa("invalid", "trainedAlgorithmicMedia", failures=("assertion.dataHash.mismatch",))],
     "declared_ai_generated", ["changed after it was signed"], ["Decides (signed, but the signature does not validate"]),
    ("iptc_ai", [iptc("trainedAlgorithmicMedia"), *ABSENT],
     "declared_ai_generated", [], ["Decides (unsigned): iptc/digital_source_type"]),
    ("software_generator", [software_generator()], "declared_ai_generated", [], ["Decides (unsigned): exif/software"]),
    ("watermark", [watermark()], "declared_ai_generated", [], ["Decides (unsigned): watermark/sdxl"]),
    ("params_detector_authentic", [params(), detector(0.05, 0.92)],
     "declared_ai_generated", ["generator parameters are present, but detector/cnn-small says authentic"], []),
    ("iptc_ai_detector_authentic", [iptc("trainedAlgorithmicMedia"), detector(0.05, 0.92)],
     "declared_ai_generated", [], ["Note: detector/cnn-small says authentic"]),
    ("unsigned_capture_alone", [iptc("digitalCapture"), camera()],
     "uncertain", [], ["Weighed -0.44", "Weighed -0.09"]),
    ("unsigned_capture_and_params", [iptc("digitalCapture"), params()],
     "declared_ai_generated", ["iptc/digital_source_type claim(s) a camera capture, but params/a1111_parameters"], []),
    ("trusted_capture_and_params", [c2pa("trusted", "digitalCapture"), params()],
     "declared_camera_capture", ["c2pa/c2pa_manifest claim(s) a camera capture, but params/a1111_parameters"],
     ["Declaration (unsigned), outranked: params/a1111_parameters"]),
    ("unsigned_capture_pixels_generated", [iptc("digitalCapture"), camera(), spectrum(1.0, 0.9), jpeg()],
     "likely_generated", ["claim(s) a camera capture, but the pixel and detector evidence says generated"], []),
    ("detector_generated", [detector(0.95, 0.92), *ABSENT], "likely_generated", [], ["Weighed +2.71"]),
    ("detector_generated_low_reliability", [detector(0.95, 0.1)], "uncertain", [], []),
    ("detector_very_sure_heavy_recompression", [detector(0.999, 0.3)], "uncertain", [], []),
    ("detector_authentic", [detector(0.05, 0.92)], "likely_authentic", [], ["Weighed -2.71"]),
    ("detector_in_band", [detector(0.7, 0.92)], "uncertain", [], []),
    ("spectrum_and_detector_agree", [spectrum(0.7, 0.9), detector(0.8, 0.9)], "likely_generated", [], []),
    ("detectors_disagree", [detector(0.97, 0.9, "a"), detector(0.03, 0.9, "b")],
     "uncertain", ["Strong evidence disagrees: detector/a say(s) generated, detector/b say(s) authentic"], []),
    ("metadata_only_tips_the_band",
     [c2pa("valid_untrusted", "digitalCapture"), iptc("digitalCapture"), camera(), detector(0.55, 0.9)],
     "uncertain", [], []),
    ("nothing_found", [*ABSENT, jpeg()], "uncertain", [],
     ["No evidence either way (absence proves nothing): c2pa/c2pa_manifest, params/generator_parameters, "
      "watermark/invisible_watermark."]),
    ("errors_only", ERRORS, "uncertain", [], ["Could not be read, not counted: c2pa/c2pa_manifest"]),
]
SUMMARY_START = {  # what the summary of an uncertain row says, where it matters
    "untrusted_c2pa_capture": "Uncertain: no pixel signal or detector points either way, and the file's own",
    "unsigned_capture_alone": "Uncertain: no pixel signal or detector points either way, and the file's own",
    "nothing_found": "Uncertain: no provenance declares",
    "errors_only": "Uncertain: no provenance declares",
    "detector_generated_low_reliability": "Uncertain: the pixel evidence is too unreliable",
    "detector_very_sure_heavy_recompression": "Uncertain: the pixel evidence is too unreliable",
    "detector_in_band": "Uncertain: the weighed evidence",
    "detectors_disagree": "Uncertain: strong pieces of evidence disagree",
    "metadata_only_tips_the_band": "Uncertain: only the file's unsigned metadata",
}


@pytest.mark.parametrize(("evidence", "label", "contradictions", "reasons"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_case_table(request, evidence, label, contradictions, reasons):
    v = decide(evidence)
    assert v.label == label, v
    assert len(v.contradictions) == len(contradictions), v.contradictions
    for got, want in zip(v.contradictions, contradictions):
        assert want in got, (want, got)
    for want in reasons:
        assert any(want in r for r in v.reasons), (want, v.reasons)
    assert v.summary.startswith(LABELS[label]), v.summary
    case_id = request.node.callspec.id
    if case_id in SUMMARY_START:
        assert v.summary.startswith(SUMMARY_START[case_id]), v.summary
    # every directional, readable item is accounted for in the reasons
    for e in evidence:
        if e.error:
            assert any(f"{e.source}/{e.name}: {e.error}" in r for r in v.reasons)
        elif e.direction in ("generated", "authentic"):
            assert any(f"{e.source}/{e.name}" in r for r in v.reasons)


# ---------------------------------------------------------------- properties --


@pytest.mark.parametrize(("evidence", "label"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_errors_never_move_the_verdict(evidence, label):
    base = decide(evidence)
    noisy = decide([*evidence, *ERRORS])
    assert (noisy.label, noisy.score, noisy.contradictions) == (base.label, base.score, base.contradictions)
    assert sum("Could not be read" in r for r in noisy.reasons) == sum("Could not be read" in r for r in base.reasons) + len(ERRORS)


@pytest.mark.parametrize("evidence", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_order_of_evidence_does_not_matter(evidence):
    base = decide(evidence)
    rng = random.Random(0)
    for _ in range(5):
        shuffled = list(evidence)
        rng.shuffle(shuffled)
        assert decide(shuffled) == base
    assert decide(list(reversed(evidence))) == base


def test_unsigned_digital_capture_alone_is_not_declared_camera_capture():
    for ev in ([iptc("digitalCapture")], [camera()], [iptc("digitalCapture"), camera()],
               [c2pa("valid_untrusted", "digitalCapture"), iptc("digitalCapture"), camera()]):
        v = decide(ev)
        assert v.label != "declared_camera_capture"
        assert v.label == "uncertain"  # and weak metadata alone never says "likely authentic" either


def test_strong_detector_high_reliability_is_likely_generated_and_low_reliability_uncertain():
    assert decide([detector(0.98, 0.95)]).label == "likely_generated"
    low = decide([detector(0.98, 0.1)])
    assert low.label == "uncertain"
    assert "too unreliable" in low.summary


def test_absence_counts_for_nothing():
    base = decide([detector(0.95, 0.92)])
    with_absent = decide([detector(0.95, 0.92), *ABSENT, spectrum(0.2, 0.92)])
    assert (with_absent.label, with_absent.score) == (base.label, base.score)
    assert decide(ABSENT).score is None
    assert decide([]).label == "uncertain"


def test_score_is_reliability_tempered_log_odds():
    p, r = 0.9, 0.8
    v = decide([detector(p, r)])
    assert v.score == pytest.approx(r * math.log(p / (1 - p)))
    assert weight(0.8, 1.0) == pytest.approx(math.log(9))
    assert weight(1.0, 1.0) == pytest.approx(math.log(39))  # strength clipped at 0.95
    assert weight(float("nan"), 1.0) == 0.0 and weight(0.5, float("nan")) == 0.0
    assert BAND == pytest.approx(math.log(4)) and 0 < MIN_RELIABILITY < 1


def test_declared_verdicts_still_report_the_pixel_score():
    v = decide([iptc("trainedAlgorithmicMedia"), detector(0.05, 0.92)])
    assert v.score is not None and v.score < 0


def test_detection_evidence():
    e = detector(0.9, 0.8, "clip-probe")
    assert (e.source, e.name, e.direction, e.reliability) == ("detector", "clip-probe", "generated", 0.8)
    assert e.strength == pytest.approx(0.8)
    assert "clip-probe" in e.explanation and "validated on the data it was trained for" in e.explanation
    assert e.details["probability"] == 0.9
    a = detector(0.2, 0.5)
    assert a.direction == "authentic" and a.strength == pytest.approx(0.6)
    assert "lowers how far it can be trusted" in a.explanation
    assert detector(0.5, 1.0).direction == "generated" and detector(0.5, 1.0).strength == 0.0
    with pytest.raises(InputError, match="expected a calibrated probability"):
        detection_evidence(Detection(score=3.0, probability=3.0, decision="fake", threshold=0.0), reliability=1.0)
    with pytest.raises(InputError, match="expected 0..1"):
        detection_evidence(Detection(score=0.0, probability=0.5, decision="fake", threshold=0.0), reliability=1.5)


def test_labels_and_serialisation():
    assert set(LABELS) == {"declared_ai_generated", "declared_camera_capture", "likely_generated",
                           "likely_authentic", "uncertain"}
    for _, evidence, label, _, _ in CASES:
        v = decide(evidence)
        assert isinstance(v, Verdict) and v.label in LABELS
        d = json.loads(json.dumps(v.to_dict()))
        assert d["label"] == label and isinstance(d["reasons"], list)


# ------------------------------------------------- real-world validation of detectors --


def bundle_detector(p: float, r: float, validation: dict, name: str = "demo") -> Evidence:
    det = Detection(score=math.log(p / (1 - p)), probability=p, decision="fake" if p >= 0.5 else "real",
                    threshold=0.0, detector=name)
    return detection_evidence(det, reliability=r, validation=validation)


DEMO = {"data": "built-in benchmark (synthetic)", "real_world": False, "n_real": 300, "n_fake": 300, "auc": 0.99}
REAL = {"data": "real-world: test", "real_world": True, "n_real": 100, "n_fake": 100, "auc": 0.93, "reliability": 0.7}


def test_unvalidated_detector_is_shown_but_cannot_move_the_verdict():
    assert UNVALIDATED_DETECTOR_RELIABILITY < MIN_RELIABILITY
    assert UNVALIDATED_DETECTOR_RELIABILITY * math.log(39) < BAND  # could not pass the band even if counted
    for validation in (DEMO, {}):
        e = bundle_detector(0.999, 0.92, validation)
        assert e.reliability == UNVALIDATED_DETECTOR_RELIABILITY and e.details["real_world_validated"] is False
        assert "not been validated on real images" in e.explanation
        assert ("(only on built-in benchmark (synthetic))" in e.explanation) == bool(validation)
        v = decide([e])
        assert v.label == "uncertain" and v.score is None
        assert "not been validated on real images" in v.summary
        assert any(r.startswith("Shown, not counted") and "demo" in r for r in v.reasons)
    # It does not tip borderline evidence either: the spectrum alone is inside the band,
    # and the same detector counted at this reliability would have pushed it out.
    spec = spectrum(0.6, 0.92)
    assert abs(decide([spec]).score) < BAND
    assert weight(spec.strength, 0.92) + weight(0.998, UNVALIDATED_DETECTOR_RELIABILITY) >= BAND
    both = decide([spec, bundle_detector(0.999, 0.92, DEMO)])
    assert both.label == "uncertain" and both.score == decide([spec]).score
    # Nor does it oppose: a strong spectrum keeps its verdict, with no contradiction.
    strong = decide([spectrum(1.0, 0.92), bundle_detector(0.001, 0.92, DEMO)])
    assert strong.label == "likely_generated" and strong.contradictions == ()


def test_validated_detector_reliability_is_the_lesser_of_file_and_bundle():
    e = bundle_detector(0.97, 0.92, REAL)
    assert e.reliability == pytest.approx(0.7) and e.details["real_world_validated"] is True
    assert e.details["history_reliability"] == 0.92 and "0.70 of 1" in e.explanation
    v = decide([e])
    assert v.label == "likely_generated" and v.score == pytest.approx(0.7 * math.log(0.97 / 0.03))
    heavy = bundle_detector(0.97, 0.3, REAL)  # the file's history is the lesser
    assert heavy.reliability == 0.3 and decide([heavy]).label == "uncertain"
    weak = decide([bundle_detector(0.999, 0.92, dict(REAL, reliability=0.2))])  # validated, and found weak
    assert weak.label == "uncertain" and "measured on real images is that low" in weak.summary
    assert validation_reliability(REAL) == 0.7
    assert validation_reliability({**REAL, "reliability": float("nan")}) == UNVALIDATED_DETECTOR_RELIABILITY
    assert validation_reliability(None) == UNVALIDATED_DETECTOR_RELIABILITY


def test_real_world_reliability_on_worked_examples():
    rng = np.random.default_rng(0)
    n = 4000
    logit = rng.normal(0, 2.0, n)
    p = 1 / (1 + np.exp(-logit))
    y_calibrated = (rng.random(n) < p).astype(int)  # labels drawn from the detector's own probabilities
    cons, ml = real_world_reliability(y_calibrated, p)
    assert ml == pytest.approx(1.0, abs=0.05) and cons <= ml
    y_chance = rng.integers(0, 2, n)  # the detector knows nothing about these labels
    assert real_world_reliability(y_chance, p)[1] <= 0.05
    assert real_world_reliability(1 - y_calibrated, p)[1] == 0.0  # wrong way round: worth nothing
    # Overconfident by a factor of 2 in log-odds: the fit is the slope of a logistic
    # regression without intercept (scikit-learn) on the logit clipped as weight() clips it.
    p_over = 1 / (1 + np.exp(-2 * logit))
    clipped = np.clip(2 * logit, -math.log(39), math.log(39))
    lr = LogisticRegression(fit_intercept=False, C=1e6).fit(clipped[:, None], y_calibrated)
    assert 0.4 < lr.coef_[0, 0] < 0.9
    assert real_world_reliability(y_calibrated, p_over)[1] == pytest.approx(float(lr.coef_[0, 0]), abs=0.015)
    with pytest.raises(InputError, match="both classes"):
        real_world_reliability([1, 1], [0.2, 0.9])
    with pytest.raises(InputError, match="calibrated probabilities"):
        real_world_reliability([0, 1], [-0.2, 3.0])


def test_validation_block_fields():
    y = np.array([0] * 30 + [1] * 30)
    p = np.clip(np.linspace(0.05, 0.95, 60) + np.random.default_rng(1).normal(0, 0.2, 60), 0.01, 0.99)
    b = validation_block(y, p, data="real-world: fixture", real_world=True, per_family={"a": 0.9})
    assert (b["n_real"], b["n_fake"], b["real_world"], b["per_family"]) == (30, 30, True, {"a": 0.9})
    assert b["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert 0 <= b["reliability"] <= b["reliability_ml"] <= 1
    assert json.loads(json.dumps(b)) == b


def test_scan_uses_the_bundle_validation(tiny_bench, tiny_bundle):
    from synthtrace.detector import DetectorBundle
    from synthtrace.io.manifest import read_manifest
    from synthtrace.tasks.scan import scan_file

    m = read_manifest(tiny_bench / "manifest.csv").where(split="test")
    path = m.path_of(next(iter(m)))
    bundle = DetectorBundle.from_pretrained(tiny_bundle)
    assert bundle.validation == {}  # trained on the built-in benchmark only
    det = next(e for e in scan_file(path, bundle).evidence if e.source == "detector")
    assert det.reliability <= UNVALIDATED_DETECTOR_RELIABILITY and det.details["real_world_validated"] is False
    bundle.validation = dict(REAL, reliability=0.6)
    r = scan_file(path, bundle)
    det = next(e for e in r.evidence if e.source == "detector")
    history = next(e for e in r.evidence if e.source == "jpeg").details["history_reliability"]
    assert det.reliability == pytest.approx(min(history, 0.6)) and det.details["real_world_validated"] is True
