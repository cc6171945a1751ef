"""Shared console objects: tables and messages go to stderr unless they are the output."""

from rich.console import Console

out = Console()
err = Console(stderr=True)
