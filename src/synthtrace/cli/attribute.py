"""`synthtrace attribute`: top-k sources with probabilities, or "unknown generator".

`synthtrace attribute --fit MANIFEST -d BUNDLE` creates the attribution head that
`attribute` and `scan` use (attribution.json + attribution.safetensors in the bundle).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from synthtrace.cli.console import err, out


def attribute(
    paths: list[Path] = typer.Argument(None, help="Image files and/or folders (not needed with --fit)."),
    detector: Path = typer.Option(..., "--detector", "-d", help="Detector bundle folder holding (or, with --fit, to receive) "
                                  "an attribution head."),
    top_k: int = typer.Option(3, "--top-k", "-k", help="How many sources to list per image."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
    fit: Path = typer.Option(None, "--fit", help="manifest.csv of labelled fakes: fit the head on its train split, "
                             "calibrate the unknown threshold on its val split, save it into the bundle."),
    features: str = typer.Option("fingerprint", help="With --fit: fingerprint (handcrafted, any bundle), backbone "
                                 "(the bundle's cnn-small features) or learned (a learned fingerprint trained on the "
                                 "manifest's train split into BUNDLE/fingerprint/; minutes on a CPU)."),
    fingerprint: Path = typer.Option(None, "--fingerprint", help="With --fit: a learned fingerprint folder from "
                                     "`synthtrace fingerprint train` to use (copied into BUNDLE/fingerprint/; implies "
                                     "--features learned)."),
    fingerprint_epochs: int = typer.Option(80, help="With --fit --features learned: training epochs of the learned "
                                           "fingerprint."),
    level: str = typer.Option("source", help="With --fit: attribute to each source or to its family."),
    unknown_score: str = typer.Option("wta", help="With --fit: wta (per-cluster WTA-hash test), msp or energy."),
    known_tpr: float = typer.Option(0.95, help="With --fit: share of known validation images the threshold keeps."),
    seed: int = typer.Option(0, help="With --fit: seed of the WTA hash."),
) -> None:
    """Which known generator made each image, or "unknown generator"."""
    # torch & co. load on use: the CLI imports every command at start-up
    from synthtrace.tasks.attribute import attribute as attribute_files
    from synthtrace.tasks.attribute import fit_attribution

    if fit is not None:
        fp_config = None
        if fingerprint is not None:
            features = "learned"
        elif features == "learned":
            from synthtrace.heads.learned_fingerprint import LearnedFingerprintConfig

            fp_config = LearnedFingerprintConfig(epochs=fingerprint_epochs)
        head, summary = fit_attribution(detector, fit, level=level, features=features, unknown_score=unknown_score,
                                        known_tpr=known_tpr, random_state=seed, fingerprint=fingerprint,
                                        fingerprint_config=fp_config, progress=not as_json)
        if as_json:
            out.print_json(json.dumps(summary))
        else:
            err.print(f"attribution head ({len(summary['labels'])} {level}s, {features} features) saved in {detector}; "
                      f"unknown threshold calibrated on {summary['calibrated_on']}")
        if not paths:
            return
    if not paths:
        raise typer.BadParameter("give image files or folders (or --fit MANIFEST to create the head).")
    for rec in attribute_files(paths, detector, top_k=top_k):
        f = rec["path"]
        if as_json:
            out.print_json(json.dumps(rec))
        else:
            answer = "unknown generator" if rec["unknown"] else rec["answer"]
            listing = ", ".join(f"{t['source']} {t['probability']:.2f}" for t in rec["top_k"])
            out.print(f"{f}\t{answer}\t[{listing}]", markup=False, highlight=False)
