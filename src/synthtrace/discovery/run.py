"""Discovery run directory outputs: clusters (JSON + CSV), per-iteration statistics, HTML page.

``write_run(run_dir, discovery, paths)`` writes:
- ``clusters.json``: one record per cluster (id, name, known, size, member paths);
- ``clusters.csv``: ``path,cluster_id,cluster_name,known`` (unclustered rows: id −1), plus
  ``support`` for a consensus run (``ConsensusDiscovery.support_``);
- ``iterations.json``: ``discovery.history_``;
- ``index.html``: a thumbnail grid per cluster (thumbnails embedded as data URIs,
  at most ``max_thumbs`` per cluster; no external requests).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

__all__ = ["write_run"]


def _thumb(path: str, size: int = 96) -> str:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:
        return ""


def write_run(run_dir: str | Path, discovery, paths: Sequence[str], *, max_thumbs: int = 24) -> Path:
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in paths]
    if len(paths) != discovery.labels_.size:
        raise ValueError(f"{len(paths)} paths for {discovery.labels_.size} discovery samples")
    clusters = discovery.clusters()
    known = {c["id"]: c["known"] for c in clusters}
    support = getattr(discovery, "support_", None)
    for c in clusters:
        c["paths"] = [paths[i] for i in c.pop("members")]
    (run / "clusters.json").write_text(json.dumps(clusters, indent=1))
    with open(run / "clusters.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "cluster_id", "cluster_name", "known"] + (["support"] if support is not None else []))
        for i, (p, lab) in enumerate(zip(paths, discovery.labels_.tolist())):
            name = discovery.label_names_[lab] if lab >= 0 else ""
            w.writerow([p, lab, name, int(known.get(lab, False))]
                       + ([f"{support[i]:.4f}"] if support is not None else []))
    (run / "iterations.json").write_text(json.dumps(discovery.history_, indent=1))
    n_un = int((discovery.labels_ < 0).sum())
    joined = [h for h in discovery.history_ if h.get("iteration") == "consensus"]
    n_it = len(discovery.history_) - len(joined)
    how = f"{n_it} iteration{'' if n_it == 1 else 's'}" + (f", the consensus of {joined[-1]['runs']} runs" if joined else "")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>synthtrace discovery</title>",
        "<style>body{font-family:sans-serif;margin:1em}img{margin:2px;width:96px;height:96px;object-fit:cover}"
        "h2{font-size:1.05em;margin-top:1.2em}</style></head><body>",
        f"<h1>Discovery run</h1><p>{len(paths)} images, {len(clusters)} clusters, {n_un} unclustered, "
        f"{how}.</p>",
    ]
    for c in clusters:
        kind = "known source" if c["known"] else "new generator"
        agree = f"; its pairs together in {c['support']:.0%} of the runs" if "support" in c else ""
        parts.append(f"<h2>{html.escape(c['name'])} ({kind}, {c['size']} images{agree})</h2><div>")
        for p in c["paths"][:max_thumbs]:
            src = _thumb(p)
            if src:
                parts.append(f"<img src='{src}' title='{html.escape(p, quote=True)}' alt=''>")
        parts.append("</div>")
    parts.append("</body></html>")
    (run / "index.html").write_text("".join(parts))
    return run
