"""Where is the edit: heatmaps from detectors and pixel statistics, and mask evaluation."""

from synthtrace.localization.error_analysis import (
    ErrorAnalyzer,
    ErrorCounts,
    analyze_binary,
    analyze_labels,
    boundary_distance,
    class_error_sets,
    ratios_from_counts,
)

__all__ = [
    "ErrorAnalyzer",
    "ErrorCounts",
    "analyze_binary",
    "analyze_labels",
    "boundary_distance",
    "class_error_sets",
    "ratios_from_counts",
]
