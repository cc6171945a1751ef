"""Published detectors that synthtrace can load (``synthtrace zoo``).

``ZOO`` lists what can be converted and ``zoo.models`` holds their networks; the
conversion of a user-downloaded checkpoint into a bundle is a workflow, in
``synthtrace.training.convert``. See docs/zoo.md.
"""

from synthtrace.zoo.entries import ZOO, ZooEntry, get_entry

__all__ = ["ZOO", "ZooEntry", "get_entry"]
