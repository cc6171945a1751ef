"""`synthtrace attribute` and `synthtrace discover` end to end on the tiny benchmark."""

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from synthtrace.cli.app import app

runner = CliRunner()


def test_attribute_and_discover(tiny_bench, tiny_bundle, tmp_path):
    from synthtrace.backbones.cnn import CNNSmallBackbone
    from synthtrace.features.extract import extract_features
    from synthtrace.heads.attribution import AttributionHead, load_attribution_head, save_attribution_head
    from synthtrace.io.manifest import read_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    m = read_manifest(tiny_bench / "manifest.csv")
    rows = [r for r in m if r.label == "fake" and r.split == "train" and not r.mask_path]
    X = extract_features([m.path_of(r) for r in rows], CNNSmallBackbone(weights=bundle), pooling="mean", progress=False)
    head = AttributionHead(n_hashes=128).fit(X, [r.source for r in rows]).calibrate(X, [r.source for r in rows])
    save_attribution_head(bundle, head)
    assert np.allclose(load_attribution_head(bundle).predict_proba(X), head.predict_proba(X))

    res = runner.invoke(app, ["attribute", str(m.path_of(rows[0])), str(m.path_of(rows[1])), "-d", str(bundle), "--json"])
    assert res.exit_code == 0, res.output
    first, _ = json.JSONDecoder().raw_decode(res.stdout.strip())
    assert len(first["top_k"]) == 3

    known = tmp_path / "known.csv"
    known.write_text("path,label,source\n" + "".join(f"{m.path_of(r)},fake,{r.source}\n" for r in rows))
    res = runner.invoke(app, ["discover", "--images", str(tiny_bench / "manifest.csv"), "--known", str(known),
                              "--out", str(tmp_path / "run"), "--features", str(bundle), "--iterations", "1",
                              "--n-clusters", "8", "--min-cluster-size", "5"])
    assert res.exit_code == 0, res.output
    for name in ("clusters.json", "clusters.csv", "iterations.json", "index.html", "state/meta.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert len(json.loads((tmp_path / "run" / "iterations.json").read_text())) == 1
