"""Stable seeds: Python's ``hash()`` changes per process, crc32 does not."""

from __future__ import annotations

import zlib


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from names and numbers, identical on every machine and run."""
    return zlib.crc32("/".join(str(p) for p in parts).encode("utf-8"))
