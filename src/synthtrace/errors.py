"""Errors raised by synthtrace.

Every message says what was received, what was expected and how to fix it, and
names the file when a file is involved.
"""

from __future__ import annotations

from dataclasses import fields


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


def reject_unknown_keys(config_cls: type, d: dict, what: str) -> None:
    """Raise ConfigError naming the keys of ``d`` that are not fields of the dataclass ``config_cls``."""
    valid = {f.name for f in fields(config_cls)}
    unknown = set(d) - valid
    if unknown:
        raise ConfigError(f"unknown {what} keys {sorted(unknown)}; valid keys: {sorted(valid)}")
