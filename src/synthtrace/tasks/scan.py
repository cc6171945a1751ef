"""Scan files and folders: evidence from provenance, pixels and detectors, then a verdict.

A batch goes on past every bad file and loses nothing it already computed; each
failure is a result row with the reason, so the caller decides the exit code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from synthtrace.errors import InputError, SynthtraceError
from synthtrace.io.images import (DEFAULT_MAX_PIXELS, SkippedFile, list_image_files, load_image_bytes,
                                   read_file_bytes)
from synthtrace.provenance import read_provenance
from synthtrace.records import Evidence, ScanResult
from synthtrace.signals import analyze_pixels
from synthtrace.signals.heatmap import localization_summary
from synthtrace.verdict import decide, detection_evidence, validation_reliability

if TYPE_CHECKING:
    # torch and scikit-learn load with a detector only: a scan without one (a Ray worker
    # among them) starts seconds sooner.
    from synthtrace.detector import DetectorBundle, RunOptions

# Reliability given to a detector when the JPEG history could not be read.
DEFAULT_DETECTOR_RELIABILITY = 0.5


@dataclass(frozen=True)
class ScanOptions:
    """What a scan computes; every field maps to a CLI flag of `synthtrace scan`."""

    operating_point: str = "0.5"
    max_pixels: int = DEFAULT_MAX_PIXELS
    provenance: bool = True
    signals: bool = True
    watermarks: bool = True
    trust_anchors: str | None = None  # PEM file of trusted C2PA roots
    localize: bool = False  # heatmap summary (max, mean, top window) in extras["localization"]
    attribution_top_k: int = 3  # sources listed in extras["attribution"] when the bundle has an attribution head


def scan_paths(
    paths: Iterable[str | Path],
    detector: DetectorBundle | str | Path | None = None,
    options: ScanOptions = ScanOptions(),
    *,
    recursive: bool = True,
    on_result: Callable[[ScanResult], None] | None = None,
    run: RunOptions | None = None,
    include_skipped: bool = False,
) -> list[ScanResult]:
    """One ScanResult per file (directories expanded), in path order.

    ``include_skipped`` adds a row (``skipped`` set to the reason) for every file a
    directory held that is not read: other extensions, hidden files, extensionless
    files whose content is not an image (see ``synthtrace.io.images.list_image_files``).

    A detector whose folder holds an attribution head (``synthtrace attribute --fit``)
    adds ``extras["attribution"]``.

    ``on_result`` is called as each file finishes (for progress and streaming output).
    ``run``: the CPU fast path when ``detector`` is a folder (see ``RunOptions``; default float32).
    """
    det = detector
    if isinstance(detector, (str, os.PathLike)):
        from synthtrace.detector import DetectorBundle, RunOptions

        det = DetectorBundle.from_pretrained(detector, run=run or RunOptions())
    results = []
    listing = list_image_files(paths, recursive=recursive)
    for path in listing.images:
        result = scan_file(path, det, options)
        results.append(result)
        if on_result:
            on_result(result)
    return with_skipped(results, listing.skipped) if include_skipped else results


def with_skipped(results: list[ScanResult], skipped: Iterable[SkippedFile]) -> list[ScanResult]:
    """``results`` with one row per skipped file added, all in path order (a folder scan lists every file)."""
    rows = results + [ScanResult(path=str(s.path), skipped=s.reason) for s in skipped]
    return sorted(rows, key=lambda r: r.path)


def scan_file(path: str | Path, detector: DetectorBundle | None = None, options: ScanOptions = ScanOptions(), *,
              data: bytes | None = None) -> ScanResult:
    """Evidence and verdict for one file; never raises for a bad file.

    ``data``: the file's bytes when the caller already holds them (a remote object,
    a file it hashed first); ``path`` then only names the file.
    """
    try:
        if data is None:
            data = read_file_bytes(path)
        loaded = load_image_bytes(data, str(path), max_pixels=options.max_pixels)
    except SynthtraceError as exc:
        return ScanResult(path=str(path), error=f"{type(exc).__name__}: {exc}")
    evidence: list[Evidence] = []
    if options.provenance:
        evidence += read_provenance(path, data=data, watermarks=options.watermarks, rgb=loaded.rgb,
                                    trust_anchors=Path(options.trust_anchors) if options.trust_anchors else None)
    if options.signals:
        evidence += analyze_pixels(loaded.rgb, path=path, data=data)
    detection = None
    if detector is not None:
        try:
            detection = detector.detections(detector.score_images([loaded.rgb]), options.operating_point)[0]
        except InputError as exc:  # an image the detector cannot read (too small): its evidence is missing, not the verdict
            evidence.append(Evidence(source="detector", name=detector.name, direction="none",
                                     explanation=f"The detector could not score this image: {exc}", error=str(exc)))
        except Exception as exc:  # keep the batch going; report what failed and where
            return ScanResult(path=str(path), record=loaded.record, evidence=tuple(evidence),
                              error=f"detector failed: {type(exc).__name__}: {exc}")
        else:
            evidence.append(detection_evidence(detection, reliability=_detector_reliability(evidence, detector),
                                               validation=detector.validation))
    result = ScanResult(path=str(path), record=loaded.record, detection=detection,
                        evidence=tuple(evidence), verdict=decide(evidence))
    if options.localize:
        result.extras["localization"] = localization_summary(loaded.rgb, detector)
    if detector is not None and detector.attribution_error is not None:
        result.extras["attribution"] = {"error": detector.attribution_error}
    elif detector is not None and detector.attribution is not None:
        try:
            result.extras["attribution"] = detector.attribution.records([loaded.rgb], top_k=options.attribution_top_k)[0]
        except SynthtraceError as exc:  # too small for a fingerprint, wrong features: say so, keep the verdict
            result.extras["attribution"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def _detector_reliability(evidence: list[Evidence], detector: DetectorBundle | None = None) -> float:
    """How far a detector can be trusted on this file: the lesser of the file's JPEG
    history (recompression, resizing; not the analysed area, which only limits
    spectra) and the bundle's reliability measured on real images
    (``synthtrace.verdict.validation_reliability``: a bundle never validated on real
    images gets a reliability too low to move a verdict)."""
    history = DEFAULT_DETECTOR_RELIABILITY
    for e in evidence:
        if e.source == "jpeg" and "history_reliability" in e.details:
            history = float(e.details["history_reliability"])
            break
    if detector is None:
        return history
    return min(history, validation_reliability(detector.validation))
