"""Batches of same-shaped inputs: images of different sizes cannot be stacked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def shape_batches(shapes: Iterable[tuple[int, ...]], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped by shape, in chunks of at most ``batch_size``."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    for idx in groups.values():
        for start in range(0, len(idx), batch_size):
            yield idx[start : start + batch_size]
