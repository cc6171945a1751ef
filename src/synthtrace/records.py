"""Frozen records passed between stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any


def plain(x: Any) -> Any:
    """Dataclasses, dicts, lists and tuples turned into fresh dicts and lists; leaves as they are.

    ``dataclasses.asdict`` deep-copies every leaf (one ``copy.deepcopy`` per float);
    on a scan's evidence that was a measurable share of a service request.
    Leaves here are immutable scalars (and the odd numpy value, which JSON
    encoding converts later), so sharing them is safe.
    """
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


@dataclass(frozen=True)
class ImageRecord:
    """What was learned about a file while decoding it.

    ``notes`` lists every conversion applied on the way to 8-bit RGB (palette,
    CMYK, 16-bit, alpha, EXIF rotation, first GIF frame), so a report can say
    exactly what the detectors saw.
    """

    path: str
    sha256: str
    format: str
    width: int
    height: int
    mode: str
    file_size: int
    jpeg_quality: float | None = None
    n_frames: int = 1
    exif_orientation: int | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence about an image, from any stage.

    ``direction`` says which way it points: "generated", "authentic" or "none"
    (informational, or absence of evidence). ``strength`` (0..1) is how strongly
    it points that way if taken at face value; ``reliability`` (0..1) is how much
    it can be trusted for *this* file (a signed and trusted manifest is ~1, a
    pixel statistic after heavy recompression is low). ``error`` is set when the
    evidence could not be read; the scan goes on.
    """

    source: str  # stage: "c2pa", "iptc", "exif", "params", "watermark", "spectrum", "jpeg", "detector", ...
    name: str  # short machine name, e.g. "digital_source_type"
    direction: str = "none"
    strength: float = 0.0
    reliability: float = 0.0
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class Detection:
    """One detector's output for one image."""

    score: float  # raw head output, higher = more likely generated
    probability: float  # calibrated P(generated) on the bundle's validation split
    decision: str  # "fake" | "real"
    threshold: float
    detector: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScanResult:
    """One row of a scan: the record and detection, the reason it failed, or why it was skipped.

    ``skipped`` is set (to the reason) for a file a folder scan passed over, such
    as a ``.txt`` beside the images; such a row is not a failure (``ok`` is True)
    and has no record, evidence or verdict. ``status`` is "scanned", "failed" or
    "skipped".
    """

    path: str
    record: ImageRecord | None = None
    detection: Detection | None = None
    error: str | None = None
    evidence: tuple[Evidence, ...] = ()
    verdict: Any = None  # a Verdict (see verdict.py) once evidence has been fused
    extras: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "skipped" if self.skipped is not None else "scanned"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "skipped": self.skipped,
            "record": self.record.to_dict() if self.record else None,
            "detection": self.detection.to_dict() if self.detection else None,
            "verdict": self.verdict.to_dict() if self.verdict is not None else None,
            "evidence": [e.to_dict() for e in self.evidence],
            **self.extras,
        }


@dataclass(frozen=True)
class Verdict:
    """The fused answer for one image (see ``synthtrace.verdict.decide``).

    ``label`` is one of ``synthtrace.verdict.LABELS``; ``summary`` is one plain
    sentence; ``reasons`` lists every item that was weighed, noted or could not be
    read, so the verdict can be defended; ``contradictions`` lists disagreements
    a reader must see even when they do not change the label. ``score`` is the
    reliability-weighted log-odds of the fused pixel/detector evidence (positive
    = generated), or None when there was none; it is not a probability.
    """

    label: str
    summary: str
    reasons: tuple[str, ...] = ()
    contradictions: tuple[str, ...] = ()
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["contradictions"] = list(self.contradictions)
        return d
