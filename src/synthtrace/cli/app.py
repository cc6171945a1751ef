"""The synthtrace command line: a thin layer over the Python API.

Each flag maps to a keyword of the function the command calls; the commands live
in one module per group.
"""

from __future__ import annotations

import sys

import typer

from synthtrace import __version__
from synthtrace.cli import attribute, backbones, bench, demo, discover, evaluate, localize, probe_layers, scan, train, zoo
from synthtrace.cli import features as features_cli
from synthtrace.cli import onboard
from synthtrace.cli import serve
from synthtrace.cli import fingerprint as fingerprint_cli
from synthtrace.errors import SynthtraceError

app = typer.Typer(
    name="synthtrace",
    help=(
        "Tell whether an image was made or edited by a generative model, with evidence you can defend.\n\n"
        "Start with `synthtrace demo` (the whole pipeline on the built-in benchmark), then "
        "`synthtrace scan PATH...` on your own files."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(bench.app, name="bench")
app.add_typer(backbones.app, name="backbones")
app.add_typer(zoo.app, name="zoo")
app.add_typer(features_cli.app, name="features")
app.add_typer(fingerprint_cli.app, name="fingerprint")
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("scan")(scan.scan)
app.command("demo")(demo.demo)
app.command("localize")(localize.localize)
app.command("eval-masks")(localize.eval_masks)
app.command("attribute")(attribute.attribute)
app.command("discover")(discover.discover)
app.command("probe-layers")(probe_layers.probe_layers)
app.command("onboard")(onboard.onboard)
app.command("serve")(serve.serve)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synthtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


def main() -> None:
    """Entry point: synthtrace's own errors print as one clear line, exit code 2."""
    try:
        app()
    except SynthtraceError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
