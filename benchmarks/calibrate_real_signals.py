"""Calibrate the periodic-peak signal on real camera photos, then check it on the dev set.

Camera photos: drewnoakes/digicam_corpus (CC0-1.0) and drewnoakes/metadata-extractor-images
("free to use however you wish"), read from local bare git mirrors (the `fetch` tool of
the project's machines puts them under /work/.mirror). Excluded: the makers reserved for
independent evaluation (by EXIF Make or folder/file name, ``EXCLUDED_MAKERS``) and every
file of the real-world developer set (../shared/real-world-dev/SOURCES.md).

Crops are made as the dev set makes them: the centre square of side min(512, w, h), its
corner rounded down to a multiple of 16, no resampling, EXIF orientation ignored; scored
as PNG and as a JPEG q90 re-save. The files used are listed, with repository, commit,
path and licence, in ``real_signals_calibration.csv`` beside this script; the images
stay out of git, in ``--cache``, rebuilt from the list.

    python benchmarks/calibrate_real_signals.py --make-list     # (re)write the file list
    python benchmarks/calibrate_real_signals.py                 # calibrate + dev-set report

The dev set is used for the report only (validation), never to choose a number.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
LIST = HERE / "real_signals_calibration.csv"
REPOS = {
    "drewnoakes/digicam_corpus": "CC0-1.0 (LICENSE)",
    "drewnoakes/metadata-extractor-images": 'none stated (README: "You are free to use these media files however you wish.")',
}
EXCLUDED_MAKERS = ("sony", "kodak", "panasonic", "pentax", "epson", "hp", "hewlett", "jvc", "leica", "sigma",
                   "kyocera", "gopro", "oppo", "traveler", "trust", "vtech")
_EXCLUDED = re.compile(r"(?<![a-z])(" + "|".join(EXCLUDED_MAKERS) + r")(?![a-z])", re.I)
NOT_CAMERA_PHOTOS = re.compile(r"^(flir|noritsu|\d+$)", re.I)
"""Makes whose files are not visible-light camera photos (FLIR thermal cameras, Noritsu film
scanners) or not identifiable (a number)."""
PER_MODEL = 4
"""At most this many photos of one camera model, so a few well-stocked models do not
make the calibration."""
FIELDS = ("repo", "commit", "path", "licence", "make", "model", "width", "height", "crop_left", "crop_top", "side",
          "sha256")


def _git(gitdir: Path, *args: str, text: bool = False):
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], capture_output=True, check=True, text=text).stdout


def _gitdir(mirrors: Path, repo: str) -> Path:
    return mirrors / repo.replace("/", "+") / "repo"


def _dev_paths(dev: Path) -> set[tuple[str, str]]:
    """(repository, path) of every file the dev set's SOURCES.md lists."""
    out = set()
    for line in (dev / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for i, c in enumerate(cells[:-2]):
            if c in REPOS and cells[i + 1].startswith("`"):
                out.add((c, cells[i + 2]))
    return out


def centre_crop_box(w: int, h: int) -> tuple[int, int, int]:
    """(left, top, side) as the dev set crops: centre square, corner on a multiple of 16."""
    side = min(512, w, h)
    return ((w - side) // 2) // 16 * 16, ((h - side) // 2) // 16 * 16, side


def make_list(mirrors: Path, dev: Path) -> list[dict]:
    used = _dev_paths(dev)
    rows, per_model = [], {}
    for repo, licence in REPOS.items():
        gitdir = _gitdir(mirrors, repo)
        commit = _git(gitdir, "rev-parse", "HEAD", text=True).strip()
        for path in sorted(_git(gitdir, "ls-tree", "-r", "--name-only", "HEAD", text=True).splitlines()):
            if not re.search(r"\.jpe?g$", path, re.I) or _EXCLUDED.search(path) or (repo, path) in used:
                continue
            try:
                data = _git(gitdir, "show", f"HEAD:{path}")  # the mirror may list a large blob it lacks
                im = Image.open(io.BytesIO(data))
                if im.format != "JPEG":
                    continue
                exif = im.getexif()
                make, model = str(exif.get(271, "")).strip(" \x00"), str(exif.get(272, "")).strip(" \x00")
                w, h = im.size
            except Exception:  # noqa: BLE001 - an unreadable file is simply not used
                continue
            if not make or NOT_CAMERA_PHOTOS.search(make) or _EXCLUDED.search(make) or _EXCLUDED.search(model) or min(w, h) < 256:
                continue  # no EXIF Make: cannot check the maker, so not used
            key = (make.lower(), model.lower())
            if per_model.get(key, 0) >= PER_MODEL:
                continue
            per_model[key] = per_model.get(key, 0) + 1
            left, top, side = centre_crop_box(w, h)
            rows.append(dict(repo=repo, commit=commit, path=path, licence=licence, make=make, model=model, width=w,
                             height=h, crop_left=left, crop_top=top, side=side,
                             sha256=hashlib.sha256(data).hexdigest()))
    return rows


def build_crops(rows: list[dict], mirrors: Path, cache: Path) -> list[Path]:
    """PNG crops in ``cache`` (made from the mirrors when missing; the blob hash is checked)."""
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for r in rows:
        dst = cache / f"{r['sha256'][:16]}.png"
        if not dst.is_file():
            data = _git(_gitdir(mirrors, r["repo"]), "show", f"{r['commit']}:{r['path']}")
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                raise SystemExit(f"{r['repo']}:{r['path']}: content differs from the list's sha256; re-run --make-list")
            left, top, side = int(r["crop_left"]), int(r["crop_top"]), int(r["side"])
            Image.open(io.BytesIO(data)).convert("RGB").crop((left, top, left + side, top + side)).save(dst)
        out.append(dst)
    return out


def _jpeg90(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def score_file(data: bytes, name: str):
    """(peak score, its spectrum Evidence, the no-detector verdict label) of one file."""
    from synthtrace.io.images import load_image_bytes
    from synthtrace.signals import analyze_pixels
    from synthtrace.verdict import decide

    rgb = load_image_bytes(data, name).rgb
    ev = analyze_pixels(rgb, data=data)
    spec = next(e for e in ev if e.source == "spectrum")
    return float(spec.strength or 0.0), spec, decide(ev).label


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", type=Path, default=Path(os.environ.get("SYNTHTRACE_MIRRORS", "/work/.mirror")))
    ap.add_argument("--dev", type=Path, default=HERE.parents[1] / "shared" / "real-world-dev")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "synthtrace" / "real-signals-calibration")
    ap.add_argument("--make-list", action="store_true", help=f"rewrite {LIST.name} from the mirrors and stop")
    ap.add_argument("--target", type=float, default=0.05, help="largest share of camera crops called generated")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    if args.make_list:
        rows = make_list(args.mirrors, args.dev)
        with open(LIST, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        makers = sorted({r["make"] for r in rows})
        print(f"{len(rows)} photos, {len({(r['make'], r['model']) for r in rows})} models, makers: {', '.join(makers)}")
        return 0

    from synthtrace.signals import GENERATED_THRESHOLD

    rows = list(csv.DictReader(open(LIST, newline="")))
    crops = build_crops(rows, args.mirrors, args.cache)
    cal = {"PNG": [], "JPEG q90": []}
    for p in crops:
        cal["PNG"].append(score_file(p.read_bytes(), str(p))[0])
        cal["JPEG q90"].append(score_file(_jpeg90(p), str(p))[0])
    both = np.array(cal["PNG"] + cal["JPEG q90"])
    print(f"calibration: {len(crops)} camera photos ({len({(r['make'], r['model']) for r in rows})} models), "
          f"PNG crops and JPEG q90 re-saves; threshold in the library: {GENERATED_THRESHOLD}")
    for name, vals in cal.items():
        v = np.array(vals)
        print(f"  {name:9s} peak score quantiles 50/90/95/99 %: "
              + " ".join(f"{np.quantile(v, q):.3f}" for q in (0.5, 0.9, 0.95, 0.99))
              + f"; called generated at the threshold: {int((v >= GENERATED_THRESHOLD).sum())}/{len(v)}"
              f" ({np.mean(v >= GENERATED_THRESHOLD):.1%})")
    lowest = float(np.quantile(both, 1 - args.target, method="higher"))
    print(f"  smallest threshold calling <= {args.target:.0%} of all calibration crops generated: "
          f"above {lowest:.3f}; at the library's threshold: {np.mean(both >= GENERATED_THRESHOLD):.1%}")

    print("dev set (validation only; ../shared/real-world-dev):")
    for sub in ("pixels", "pixels-jpeg90"):
        man = list(csv.DictReader(open(args.dev / sub / "manifest.csv", newline="")))
        y, s, gen_dir, labels = [], [], [], []
        for r in man:
            p = args.dev / sub / r["path"]
            score, spec, label = score_file(p.read_bytes(), str(p))
            y.append(r["label"] == "fake")
            s.append(score)
            gen_dir.append(spec.direction == "generated")
            labels.append(label)
        y, s, gen_dir, labels = np.array(y), np.array(s), np.array(gen_dir), np.array(labels)
        cams = ~y
        print(f"  {sub:14s} peak-score ROC AUC {_auc(y, s):.3f}; spectral evidence 'generated': cameras "
              f"{int(gen_dir[cams].sum())}/{int(cams.sum())}, generator outputs {int(gen_dir[y].sum())}/{int(y.sum())}; "
              f"verdict with no detector 'likely generated': cameras {int((labels[cams] == 'likely_generated').sum())}"
              f"/{int(cams.sum())}, generator outputs {int((labels[y] == 'likely_generated').sum())}/{int(y.sum())}; "
              f"'likely authentic': {int((labels == 'likely_authentic').sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
