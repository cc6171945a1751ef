"""`synthtrace fingerprint train`: train the learned generator fingerprint on a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from synthtrace.cli.console import err, out

app = typer.Typer(
    help="Learned generator fingerprints: a small CNN trained to tell your known generators apart, whose "
         "features then drive `attribute` and `discover`.",
    no_args_is_help=True,
)


@app.command("train")
def train(
    manifest: Path = typer.Argument(..., help="manifest.csv with labelled fakes (columns `source` or `family`, "
                                    "`split`)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write learned_fingerprint.json + .safetensors into."),
    epochs: int = typer.Option(80, help="Training epochs (time grows linearly with epochs x training images)."),
    augment: float = typer.Option(0.5, help="Share of training images given the built-in benchmark's platform "
                                  "processing (resize 0.5-0.9x and back, or blur) each epoch; 0 turns it off."),
    crop: int = typer.Option(64, help="Side of the random training crops (multiple of 8; must fit in every image)."),
    seed: int = typer.Option(0, help="Seed of weights, crop positions and augmentation: same seed, same weights "
                                     "(on the same machine and thread count)."),
    members: int = typer.Option(1, help="Networks to train (seeds seed, seed+1, ...), features side by side: "
                                "better at telling apart generators none was trained on, N times the time."),
    normalize: str = typer.Option("wccn", help="wccn: within-class covariance normalisation fitted on the training "
                                  "images and processed copies, then L2 (helps discovery); none: raw pooled features."),
    level: str = typer.Option("source", help="Labels to tell apart: source (each generator) or family."),
    as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON on stdout."),
) -> None:
    """Train a learned fingerprint: cnn-small classifying your known sources from their noise residual.

    What it is for: `synthtrace attribute` and `synthtrace discover` tell generators apart
    by a feature vector per image. The default (handcrafted) fingerprint needs no
    training; this learned one is trained on your labelled fakes and was much better on
    the built-in benchmark (numbers and protocol: docs/discovery.md).

    Uses the manifest's fake rows that have a source (splices and rows with a mask are
    left out) of the train split; reports accuracy on the val split's rows of the same
    sources (every 5 epochs, and in the summary).

    Typical use:

        synthtrace fingerprint train bench/manifest.csv --out fp/

        synthtrace attribute --fit bench/manifest.csv -d BUNDLE --fingerprint fp/

        synthtrace discover --images new/ --known known.csv --out run/ --features fp/

    Time: minutes, not hours, on a laptop CPU (measured in docs/discovery.md); it grows
    with images x epochs x --members (--epochs 20 for a quick first try). Set the thread
    count with OMP_NUM_THREADS.

    Note: --augment applies the built-in benchmark's own post-processing, so gains it
    brings on that benchmark do not show robustness to other processing.
    """
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.heads.learned_fingerprint import LearnedFingerprintConfig
    from synthtrace.training.fingerprint import train_from_manifest

    cfg = LearnedFingerprintConfig(epochs=epochs, augment=augment, crop=crop, seed=seed, members=members,
                                   normalize=normalize)
    _, summary = train_from_manifest(manifest, out_dir, level=level, config=cfg, progress=not as_json)
    if as_json:
        out.print_json(json.dumps(summary))
        return
    va = summary["val_accuracy"]
    err.print(f"learned fingerprint ({len(summary['classes'])} {level}s, {summary['n_train']} training images, "
              f"{summary['epochs']} epochs, {summary['seconds']:.0f} s) saved in {out_dir}")
    err.print(f"val accuracy (whole images, {summary['n_val']} of the val split): "
              + (f"{va:.3f}" if va is not None else "not measured (no val split rows of the training labels)"))
    err.print(f"use it: synthtrace attribute --fit {manifest} -d BUNDLE --fingerprint {out_dir}")
