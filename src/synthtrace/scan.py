"""Scan files and folders: decode safely, score with a detector, never stop at a bad file.

A batch goes on past every bad file and loses nothing it already computed; each
failure is a result row with the reason, so the caller decides the exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from synthtrace.detector import DetectorBundle
from synthtrace.errors import SynthtraceError
from synthtrace.io.images import DEFAULT_MAX_PIXELS, iter_image_files, load_image
from synthtrace.records import ScanResult


def scan_paths(
    paths: Iterable[str | Path],
    detector: DetectorBundle | str | Path | None = None,
    *,
    operating_point: str = "0.5",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    recursive: bool = True,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """One ScanResult per file (directories expanded), in path order.

    ``on_result`` is called as each file finishes (for progress and streaming output).
    """
    det = detector if isinstance(detector, DetectorBundle) or detector is None else DetectorBundle.from_pretrained(detector)
    results = []
    for path in iter_image_files(paths, recursive=recursive):
        result = scan_file(path, det, operating_point=operating_point, max_pixels=max_pixels)
        results.append(result)
        if on_result:
            on_result(result)
    return results


def scan_file(
    path: str | Path,
    detector: DetectorBundle | None = None,
    *,
    operating_point: str = "0.5",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ScanResult:
    try:
        loaded = load_image(path, max_pixels=max_pixels)
    except SynthtraceError as exc:
        return ScanResult(path=str(path), error=f"{type(exc).__name__}: {exc}")
    detection = None
    if detector is not None:
        try:
            scores = detector.score_images([loaded.rgb])
            detection = detector.detections(scores, operating_point)[0]
        except Exception as exc:  # keep the batch going; report what failed and where
            return ScanResult(path=str(path), record=loaded.record, error=f"detector failed: {type(exc).__name__}: {exc}")
    return ScanResult(path=str(path), record=loaded.record, detection=detection)
