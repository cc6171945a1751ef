"""A rich progress bar for long library work, or a no-op when disabled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text


@contextmanager
def progress_bar(total: int, label: str, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws to stderr so JSON on stdout stays clean."""
    if not enabled:
        yield lambda n=1: None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    ) as bar:
        task = bar.add_task(escape(label), total=total)
        yield lambda n=1: bar.update(task, advance=n)


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.0f} images/s" if task.speed else "… images/s")


@contextmanager
def rate_progress(*, enabled: bool = True, label: str = "scanning"):
    """Yield (start(total), advance(n)): a bar on stderr with images/s, or no-ops."""
    if not enabled:
        yield (lambda total: None), (lambda n: None)
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), _Rate(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)
        yield (lambda total: bar.update(task, total=total)), (lambda n: bar.update(task, advance=n))
