"""`synthtrace attribute` and `synthtrace discover` end to end on the tiny benchmark."""

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from synthtrace.cli.app import app

runner = CliRunner()


def test_attribute_and_discover(tiny_bench, tiny_bundle, tmp_path):
    from synthtrace.detector import DetectorBundle
    from synthtrace.detector.attribution import load_attribution_head, save_attribution_head
    from synthtrace.features.extract import extract_features
    from synthtrace.heads.attribution import AttributionHead
    from synthtrace.io.manifest import read_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    m = read_manifest(tiny_bench / "manifest.csv")
    rows = [r for r in m if r.label == "fake" and r.split == "train" and not r.mask_path]
    X = extract_features([m.path_of(r) for r in rows], DetectorBundle.from_pretrained(bundle).cnn_backbone(), pooling="mean", progress=False)
    head = AttributionHead(n_hashes=128, features="backbone").fit(X, [r.source for r in rows]).calibrate(X, [r.source for r in rows])
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
                              "--n-clusters", "8", "--min-cluster-size", "5", "--percentile", "0.5",
                              "--merge-space", "input", "--kmeans-n-init", "3", "--no-merge-test", "--consensus", "1"])
    assert res.exit_code == 0, res.output
    for name in ("clusters.json", "clusters.csv", "iterations.json", "index.html", "state/meta.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "clusters.csv").read_text().splitlines()[0] == "path,cluster_id,cluster_name,known"
    assert len(json.loads((tmp_path / "run" / "iterations.json").read_text())) == 1
    params = json.loads((tmp_path / "run" / "state" / "meta.json").read_text())["params"]
    assert (params["percentile"], params["merge_space"], params["kmeans_n_init"], params["merge_test"]) == (0.5, "input", 3, False)


def test_discover_consensus_joins_runs_and_resumes(tiny_bench, tmp_path):
    import csv

    from synthtrace.io.manifest import read_manifest

    m = read_manifest(tiny_bench / "manifest.csv")
    known = tmp_path / "known.csv"
    known.write_text("path,label,source\n" + "".join(f"{m.path_of(r)},fake,{r.source}\n" for r in m
                                                     if r.label == "fake" and r.split == "train" and not r.mask_path))
    run = tmp_path / "run"
    args = ["discover", "--images", str(tiny_bench / "manifest.csv"), "--known", str(known), "--out", str(run),
            "--iterations", "1", "--n-clusters", "8", "--min-cluster-size", "5", "--percentile", "0.5", "--consensus", "3"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "consensus of 3 runs" in res.output
    for name in ("state/meta.json", "consensus/run1/state/meta.json", "consensus/run2/state/meta.json"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader(open(run / "clusters.csv")))
    assert len(rows) == len(m) and all(int(r["cluster_id"]) >= 0 and 0 <= float(r["support"]) <= 1 for r in rows)
    last = json.loads((run / "iterations.json").read_text())[-1]
    assert last["iteration"] == "consensus" and last["runs"] == 3 and len(set(last["seeds"])) == 3
    page = (run / "index.html").read_text()
    assert "of the runs" in page and "1 iteration, the consensus of 3 runs" in page
    before = (run / "clusters.csv").read_text()
    res = runner.invoke(app, args)  # every run resumes from its state: the same clusters
    assert res.exit_code == 0 and (run / "clusters.csv").read_text() == before
    res = runner.invoke(app, args[:-1] + ["0"])
    assert res.exit_code != 0 and ">= 1" in str(res.exception)


def test_discover_runs_once_above_the_consensus_limit(tiny_bench, tmp_path, monkeypatch):
    import synthtrace.tasks.discover as discover_task

    monkeypatch.setattr(discover_task, "MAX_SAMPLES", 10)
    run = tmp_path / "run"
    res = runner.invoke(app, ["discover", "--images", str(tiny_bench / "manifest.csv"), "--known",
                              str(tiny_bench / "manifest.csv"), "--out", str(run), "--iterations", "1", "--n-clusters",
                              "8", "--min-cluster-size", "5", "--consensus", "3"])
    assert res.exit_code == 0, res.output
    assert "running the loop once" in " ".join(res.output.split()) and not (run / "consensus").exists()
    assert (run / "clusters.csv").read_text().splitlines()[0] == "path,cluster_id,cluster_name,known"


def test_fit_head_for_a_bundle_then_scan_shows_attribution(tiny_bench, tiny_bundle, tmp_path):
    from synthtrace.detector.attribution import load_attribution_head
    from synthtrace.io.manifest import read_manifest

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    res = runner.invoke(app, ["attribute", "--fit", str(tiny_bench / "manifest.csv"), "-d", str(bundle), "--json"])
    assert res.exit_code == 0, res.output
    summary, _ = json.JSONDecoder().raw_decode(res.stdout.strip())
    head = load_attribution_head(bundle)
    assert head.features == "fingerprint" and head.threshold_ is not None
    assert summary["labels"] == head.label_map() and len(head.label_map()) == 8  # the seen sources
    assert summary["calibrated_on"] == "val"

    m = read_manifest(tiny_bench / "manifest.csv")
    row = next(r for r in m if r.label == "fake" and r.split == "test" and not r.mask_path)
    path = m.path_of(row)
    res = runner.invoke(app, ["attribute", str(path), "-d", str(bundle), "--json", "-k", "2"])
    assert res.exit_code == 0, res.output
    rec, _ = json.JSONDecoder().raw_decode(res.stdout.strip())
    assert len(rec["top_k"]) == 2 and rec["answer"] in head.label_map() + ["unknown"]

    res = runner.invoke(app, ["scan", str(path), "-d", str(bundle), "--json", "--report", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    att = json.loads(res.stdout)[0]["attribution"]
    assert len(att["top_k"]) == 3  # scan lists 3 by default
    assert att["answer"] == rec["answer"] and att["unknown"] == rec["unknown"]
    assert abs(att["unknown_score"] - rec["unknown_score"]) < 1e-6
    assert [t["source"] for t in att["top_k"][:2]] == [t["source"] for t in rec["top_k"]]
    html = (tmp_path / "r.html").read_text()
    assert "attribution" in html and att["top_k"][0]["source"] in html

    from synthtrace.tasks.scan import scan_paths

    plain = scan_paths([path], tiny_bundle)  # a bundle without a head: no attribution
    assert "attribution" not in plain[0].extras
