"""`synthtrace backbones list`."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from synthtrace.cli.console import out

app = typer.Typer(help="Feature extractors detectors can be built on.", no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """List backbone names and patterns (hf:<hub id or local dir> takes any transformers vision tower)."""
    from synthtrace.backbones.registry import list_backbones  # imports torch: not at CLI start-up

    rows = list_backbones()
    if as_json:
        typer.echo(json.dumps([{"name": n, "description": d} for n, d in rows], indent=2))
        return
    table = Table("name", "description")
    for name, desc in rows:
        table.add_row(name, desc)
    out.print(table)
