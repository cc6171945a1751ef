"""Published detectors converted into synthtrace bundles (``synthtrace zoo``).

``ZOO`` lists what can be converted; :func:`convert` reads a user-downloaded
checkpoint with the weights-only loader and writes a bundle; :func:`calibrate_bundle`
fits its calibration on a labelled validation split. See docs/zoo.md.
"""

from synthtrace.zoo.convert import calibrate_bundle, convert
from synthtrace.zoo.entries import ZOO, ZooEntry, get_entry

__all__ = ["ZOO", "ZooEntry", "calibrate_bundle", "convert", "get_entry"]
