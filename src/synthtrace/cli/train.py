"""`synthtrace train`."""

from __future__ import annotations

from pathlib import Path

import typer

from synthtrace.cli.console import err
from synthtrace.io.manifest import read_licences


def train(
    manifest: Path = typer.Option(..., "--manifest", "-m", help="manifest.csv with train and val splits."),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder to write (config.json + model.safetensors)."),
    backbone: str = typer.Option("cnn-small", help="cnn-small (trained end to end), forensic (hand-built pixel features + logistic head on history-matched views: the shipped real-image detector's recipe, docs/real-world.md) or hf:<hub id or local dir> (frozen, linear probe)."),
    head: str = typer.Option(None, help="cnn-small, linear_probe, or multilayer (AdaptCLIP-style head on every layer's tokens and attention keys; hf: only). Default: follows the backbone."),
    layer: str = typer.Option("last", help="Backbone layer for the linear probe on hf: backbones; `synthtrace probe-layers` picks one on val."),
    pooling: str = typer.Option("cls", help="cls, mean or embeds (CLIP projection) for hf: backbones."),
    epochs: int = typer.Option(12, help="Epochs for cnn-small and multilayer."),
    seed: int = typer.Option(0, help="Random seed."),
    calibration: str = typer.Option("platt", help="platt or temperature (fitted on the val split)."),
    cache_dir: Path = typer.Option(None, "--cache", help="Feature cache folder: hf: backbone features, or the forensic views (keyed by manifest and recipe)."),
    augment: str = typer.Option("none", "--augment", help="Train-time augmentation for cnn-small: none, spec (0-2 of 16 transforms per image, 5 strength bins) bart (p=0.5, one of gamma/noise/blur/upscale/up-down scale/rotation), or spec:NAME,NAME (the spec sampler over the named transforms, e.g. spec:jpeg,scale)."),
    data_sources: Path = typer.Option(None, "--data-sources", help="CSV with repo and licence columns (e.g. data/real-train/sources.csv): the licences of the training data, recorded in the bundle."),
    target_unlabeled: Path = typer.Option(None, "--target-unlabeled", help="Manifest of unlabelled target-domain images (labels ignored): multi-source domain adaptation (moment matching + entropy) of the hf: linear probe."),
) -> None:
    """Train a detector on the manifest's train split; calibrate and pick thresholds on val."""
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.training.train import train_detector

    train_detector(
        manifest, out, backbone=backbone, head=head, layer=layer, pooling=pooling, epochs=epochs, seed=seed,
        calibration=calibration, cache_dir=cache_dir, log=lambda msg: err.print(msg), augment=augment,
        target_unlabeled=target_unlabeled, data_licences=read_licences(data_sources) if data_sources else None,
    )
