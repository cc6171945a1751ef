"""Detector bundles: a detector saved as config.json + safetensors, loaded through one kind table."""

from synthtrace.detector.bundle import BUILTIN, BUILTIN_DIR, OPERATING_POINTS, DetectorBundle, RunOptions

__all__ = ["BUILTIN", "BUILTIN_DIR", "DetectorBundle", "OPERATING_POINTS", "RunOptions"]
