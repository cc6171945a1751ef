"""Errors raised by synthtrace.

Every message says what was received, what was expected and how to fix it, and
names the file when a file is involved.
"""

from __future__ import annotations


class SynthtraceError(Exception):
    """Base class for every error synthtrace raises on purpose."""


class InputError(SynthtraceError, ValueError):
    """A user-supplied file or value cannot be used."""


class UnreadableImageError(InputError):
    """The file is not a decodable image (empty, truncated, wrong format...)."""


class ImageTooLargeError(InputError):
    """The image has more pixels than the configured decompression-bomb limit."""


class ManifestError(InputError):
    """A manifest CSV is malformed; the message names the row."""


class ConfigError(SynthtraceError):
    """A configuration has unknown keys or invalid values."""


class CacheMismatchError(SynthtraceError):
    """A feature cache entry was written under a different key."""


class BundleError(SynthtraceError):
    """A detector bundle is missing, incomplete or from an incompatible version."""


class NotFittedError(SynthtraceError, ValueError):
    """A head was used before `fit`."""
